"""The VERP return path: which message a bounce belongs to, unforgeably.

With a bounce address set (``bounce@tenant.example``), every message leaves
with the envelope sender ``bounce+<message id>-<tag>@tenant.example``. A
bounce goes back to that address, and the receiving server writes it into
``Delivered-To``/``X-Original-To``; the inbound side reads the id back even
from a bounce that quotes nothing of the original.

Why the tag: message ids are small consecutive numbers. Without the tag
anybody could mail a fake bounce to ``bounce+41@`` and mark someone else's
message BOUNCED and its recipient suppressed. The tag is the first 12 hex
digits (48 bits) of HMAC-SHA256 over the tenant and the message id, keyed
with the installation's secret key, so it cannot be computed without that
key: a forger must guess, one attempt per mail, 1 in 2^48. It is also bound
to the tenant, so one tenant's tag never matches another tenant's message.
Hex keeps it intact through servers that lower-case local parts. Changing
``POSTWERK_SECRET_KEY`` invalidates the tags of mail sent before; bounces of
that mail are still matched by the Message-ID they quote.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import current_app

TAG_LENGTH = 12
#: Longest local part of a bounce address: "+<18 digits>-<12>" must still fit
#: RFC 5321's 64 characters.
MAX_LOCAL_PART = 64 - 1 - 18 - 1 - TAG_LENGTH
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*/=?^_`{|}~.-]+$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_FOUND = re.compile(r"\+(\d{1,18})-([0-9a-f]{%d})@" % TAG_LENGTH, re.IGNORECASE)


class BounceAddressError(ValueError):
    pass


def check(address: str) -> str:
    """A bounce address as the admin enters it, checked; '' stays ''."""
    address = (address or "").strip()
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if not at or not local or not _DOMAIN.match(domain):
        raise BounceAddressError("a bounce address looks like bounce@example.org")
    if not _LOCAL.match(local) or local.startswith(".") or local.endswith(".") or ".." in local:
        # '+' is the separator of the VERP part; non-ASCII needs SMTPUTF8,
        # which not every server that bounces speaks.
        raise BounceAddressError("the part before @ may use only ASCII letters, digits and . - _ (no '+')")
    if len(local) > MAX_LOCAL_PART:
        raise BounceAddressError(
            f"the part before @ may have at most {MAX_LOCAL_PART} characters "
            "(the message number and its tag are added to it)"
        )
    return f"{local}@{domain.lower()}"


def _tag(tenant_id: int, message_pk: int) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    mac = hmac.new(key, f"postwerk-verp\0{tenant_id}\0{message_pk}".encode(), hashlib.sha256)
    return mac.hexdigest()[:TAG_LENGTH]


def for_message(bounce_address: str, tenant_id: int, message_pk: int) -> str:
    """The envelope sender of one message."""
    local, _, domain = bounce_address.rpartition("@")
    return f"{local}+{message_pk}-{_tag(tenant_id, message_pk)}@{domain}"


def message_of(tenant_id: int, text: str) -> int | None:
    """The id of the tenant's message whose VERP address appears in
    ``text`` (header values), or None; a wrong tag matches nothing."""
    for match in _FOUND.finditer(text or ""):
        pk = int(match.group(1))
        if hmac.compare_digest(match.group(2).lower(), _tag(tenant_id, pk)):
            return pk
    return None
