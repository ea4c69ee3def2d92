"""Recognising a bounce and what it says: which message, which recipient, why.

A delivery status notification (RFC 3464, ``multipart/report;
report-type=delivery-status``) is read field by field. The message is found
by a VERP address (``bounce+<id>-<tag>@...`` in the headers the receiving
server keeps: Delivered-To, X-Original-To, To, ...; the core checks the tag,
``core.api.verp_message``) or by the Message-ID in the returned headers.
Non-standard bounces (Exim, qmail, Postfix without DSN, Exchange, ...) go
to flufl.bounce, whose detectors Mailman uses, but only
for mail that looks machine-made: its heuristics must not read a person's
mail as a bounce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

_VERP_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to", "x-failed-recipients-to")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_MESSAGE_ID = re.compile(r"(?im)^message-id:\s*(<[^>\s]{1,250}>)")
_DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon")


@dataclass(frozen=True)
class Failure:
    recipient: str
    status: str  # "5.1.1"; "5.0.0" / "4.0.0" when the bounce names none
    diagnostic: str
    final: bool  # False: only delayed


@dataclass(frozen=True)
class Bounce:
    failures: tuple[Failure, ...]
    # The headers that may carry the VERP address (for core.api.verp_message).
    envelope: str
    message_id: str
    how: str  # "DSN" | "flufl.bounce"


def _text(value) -> str:
    return " ".join(str(value or "").split())


def envelope_headers(msg: EmailMessage) -> str:
    """The header values where a receiving server keeps the address a mail
    was delivered to (the VERP return path of a bounce)."""
    found = []
    for name in _VERP_HEADERS:
        try:
            found += [str(v) for v in msg.get_all(name, [])]
        except Exception:  # an unreadable header names nothing
            continue
    return "\n".join(found)[:20000]


def _returned_message_id(msg: EmailMessage) -> str:
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822" and part.is_multipart():
            inner = part.get_payload()[0]
            value = _text(inner.get("message-id", ""))
            if value:
                return value
        elif content_type in ("text/rfc822-headers", "message/rfc822-headers", "text/plain"):
            data = part.get_payload(decode=True) or b""
            match = _MESSAGE_ID.search(data.decode("utf-8", "replace"))
            if match:
                return match.group(1)
    return ""


def _dsn_failures(msg: EmailMessage) -> list[Failure] | None:
    if msg.get_content_type() != "multipart/report":
        return None
    if (msg.get_param("report-type") or "").lower() != "delivery-status":
        return None
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):  # unparsed: read the fields from the text
            raw = (part.get_payload(decode=True) or b"").replace(b"\r\n", b"\n")
            blocks = [
                BytesParser(policy=policy.default).parsebytes(b + b"\n", headersonly=True)
                for b in raw.split(b"\n\n")
                if b.strip()
            ]
        failures = []
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            action = _text(block.get("action", "")).lower()
            if action not in ("failed", "delayed"):
                continue
            recipient = _text(block.get("final-recipient", "") or block.get("original-recipient", ""))
            recipient = recipient.split(";", 1)[-1].strip().strip("<>")
            status_match = _STATUS.search(_text(block.get("status", "")))
            status = ".".join(status_match.groups()) if status_match else ("5.0.0" if action == "failed" else "4.0.0")
            diagnostic = _text(block.get("diagnostic-code", ""))
            diagnostic = diagnostic.split(";", 1)[-1].strip() if ";" in diagnostic else diagnostic
            failures.append(Failure(recipient.lower(), status, diagnostic[:500], action == "failed"))
        return failures
    return []


def _looks_machine_made(msg: EmailMessage, automatic: str | None) -> bool:
    if automatic:
        return True
    try:
        sender = str(msg.get("from", "")).lower()
    except Exception:
        return False
    return any(daemon in sender for daemon in _DAEMONS)


def read(msg: EmailMessage, automatic: str | None) -> Bounce | None:
    """The bounce this mail is, or None for any other mail."""
    failures = _dsn_failures(msg)
    how = "DSN"
    if failures is None or not failures:
        if not _looks_machine_made(msg, automatic):
            return None
        from flufl.bounce import all_failures

        try:
            temporary, permanent = all_failures(msg)
        except Exception:  # a detector's corner case: not a bounce we can read
            return None
        status = _STATUS.search(msg.get_body(("plain",)).get_content() if msg.get_body(("plain",)) else "")
        code = ".".join(status.groups()) if status else ""
        found = [
            Failure(a.decode("utf-8", "replace").lower(), code if code.startswith("5") else "5.0.0", "", True)
            for a in sorted(permanent)
        ]
        found += [
            Failure(a.decode("utf-8", "replace").lower(), code if code.startswith("4") else "4.0.0", "", False)
            for a in sorted(temporary)
        ]
        if not found:
            return None if failures is None else Bounce((), envelope_headers(msg), _returned_message_id(msg), how)
        failures, how = found, "flufl.bounce"
    return Bounce(tuple(failures), envelope_headers(msg), _returned_message_id(msg), how)
