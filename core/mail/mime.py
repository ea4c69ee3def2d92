"""Turning a queued message into RFC 5322 bytes.

Built with the standard library's ``EmailMessage`` and the SMTP policies,
which fold headers and encode non-ASCII words correctly. Header values are
checked for CR, LF and NUL first: the email package's own defences have had
holes (CVE-2024-6923), and a placeholder must never add a header.
"""
from __future__ import annotations

import re
import uuid
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from email_validator import EmailNotValidError, validate_email

from ..models.types import utcnow

_FORBIDDEN = re.compile(r"[\r\n\x00]")
ENCODINGS = {"utf-8": "utf-8", "iso-8859-1": "iso-8859-1"}


class HeaderError(ValueError):
    """A header value would break the message (CR/LF/NUL or a bad address)."""


def check_header(name: str, value: str) -> str:
    if _FORBIDDEN.search(value or ""):
        raise HeaderError(f"{name} contains a line break or NUL character, which is not allowed")
    return value


def check_address(address: str, *, field: str = "address") -> str:
    """Syntax check (no DNS: deliverability is the server's call)."""
    check_header(field, address)
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=True).normalized
    except EmailNotValidError as exc:
        raise HeaderError(f"{field} {address!r} is not a valid e-mail address: {exc}") from exc


def new_message_id(sender: str) -> str:
    domain = sender.rpartition("@")[2] or "postwerk.invalid"
    return f"<{uuid.uuid4().hex}@{domain}>"


def transport_address(address: str) -> tuple[str, bool]:
    """The form of an address on the wire, and whether it needs SMTPUTF8.

    An international domain with an ASCII local part goes out in its IDNA
    (punycode) form and needs nothing special; only a non-ASCII local part
    needs a server that offers SMTPUTF8 (RFC 6531).
    """
    if address.isascii():
        return address, False
    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise HeaderError(f"{address!r} is not a valid e-mail address: {exc}") from exc
    if result.ascii_email:
        return result.ascii_email, False
    return result.normalized, True


def _address(address: str, name: str = "") -> Address:
    local, _, domain = transport_address(address)[0].rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


def build(*, sender: str, sender_name: str, recipients: list[str], subject: str, body_text: str,
          body_html: str, message_id: str, reply_to: str = "", encoding: str = "utf-8",
          extra_headers: dict[str, str] | None = None) -> EmailMessage:
    for name, value in (("sender name", sender_name), ("subject", subject), ("Message-ID", message_id)):
        check_header(name, value)
    charset = ENCODINGS.get(encoding.lower())
    if charset is None:
        raise HeaderError(f"unsupported encoding {encoding!r}; use utf-8 or iso-8859-1")
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _address(check_header("sender", sender), sender_name)
    msg["To"] = [_address(check_header("recipient", r)) for r in recipients]
    if reply_to:
        msg["Reply-To"] = _address(check_header("Reply-To", reply_to))
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id
    # RFC 3834: tells auto-responders not to answer, which stops mail loops.
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in (extra_headers or {}).items():
        msg[name] = check_header(name, value)
    text = body_text or ""
    # The content manager picks 7bit, quoted-printable or base64 by content.
    msg.set_content(_encodable(text, charset), charset=charset, cte=_cte(text))
    if body_html:
        msg.add_alternative(_encodable(body_html, charset), subtype="html", charset=charset, cte=_cte(body_html))
    return msg


def _cte(text: str) -> str | None:
    """7-bit transfer encoding always: policy.SMTP would pick 8bit, which a
    server without 8BITMIME must not get. None lets the library choose among
    7bit (ASCII) and the rest."""
    return None if text.isascii() else "quoted-printable"


def _encodable(text: str, charset: str) -> str:
    """ISO-8859-1 cannot carry every character; replace, never crash a send."""
    if charset == "utf-8":
        return text
    return text.encode(charset, errors="replace").decode(charset)


def as_bytes(msg: EmailMessage, *, smtputf8: bool = False) -> bytes:
    return msg.as_bytes(policy=policy.SMTPUTF8 if smtputf8 else policy.SMTP)
