"""Turning a queued message into RFC 5322 bytes.

Built with the standard library's email package, which folds headers and
encodes non-ASCII words and bodies correctly. Header values are
checked for CR, LF and NUL first: the email package's own defences have had
holes (CVE-2024-6923), and a placeholder must never add a header.
"""

from __future__ import annotations

import binascii
import functools
import re
import uuid
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from email_validator import EmailNotValidError, validate_email

CRLF = "\r\n"
_FORBIDDEN = re.compile(r"[\r\n\x00]")
ENCODINGS = {"utf-8": "utf-8", "iso-8859-1": "iso-8859-1"}


class HeaderError(ValueError):
    """A header value would break the message (CR/LF/NUL or a bad address)."""


def check_header(name: str, value: str) -> str:
    if _FORBIDDEN.search(value or ""):
        raise HeaderError(f"{name} contains a line break or NUL character, which is not allowed")
    return value


def check_address(address: str, *, field: str = "address") -> str:
    """Check an address's syntax (no DNS: deliverability is the server's call)
    and return it normalised (``Erika@Example.ORG`` -> ``Erika@example.org``);
    raise ``AddressError`` (``HeaderError``), naming ``field``, when it is not
    one valid address (``"a@x, b@y"`` is two, and refused)."""
    check_header(field, address)
    normalized, error = _validated(address)
    if error is not None:
        raise HeaderError(f"{field} {address!r} is not a valid e-mail address: {error}")
    return normalized


# A local part email_validator keeps as it is (ASCII dot-atom of the
# commonest characters); anything else takes the full check.
_SIMPLE_LOCAL = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*")


def _validated(address: str) -> tuple[str, str | None]:
    """(normalised address, None) or ("", why not).

    email_validator costs 0.1-0.3 ms per address (IDNA checks character by
    character), more than rendering the mail it is for. Without DNS its
    answer depends on the text alone, so a simple local part skips it: the
    domain is checked once per domain (cached) and the local part by a
    pattern that admits only what the library accepts unchanged (a test
    compares both on tricky addresses). Everything else is checked in full."""
    local, at, domain = address.rpartition("@")
    if at and len(local) <= 64 and len(address) <= 254 and _SIMPLE_LOCAL.fullmatch(local):
        normalized_domain = _domain(domain)
        if normalized_domain:
            return f"{local}@{normalized_domain}", None
    return _validated_in_full(address)


@functools.lru_cache(maxsize=1024)
def _domain(domain: str) -> str:
    """The normalised domain if email_validator accepts it, else ""."""
    try:
        return validate_email(f"postmaster@{domain}", check_deliverability=False, allow_smtputf8=True).domain
    except EmailNotValidError:
        return ""


@functools.lru_cache(maxsize=4096)
def _validated_in_full(address: str) -> tuple[str, str | None]:
    try:
        return validate_email(address, check_deliverability=False, allow_smtputf8=True).normalized, None
    except EmailNotValidError as exc:
        return "", str(exc)


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


def build(
    *,
    sender: str,
    sender_name: str,
    recipients: list[str],
    subject: str,
    body_text: str,
    body_html: str,
    message_id: str,
    reply_to: str = "",
    encoding: str = "utf-8",
    extra_headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """The message as bytes, ready for the SMTP DATA phase.

    ASCII addresses (nearly all mail) take a fast path, several times
    faster than ``EmailMessage``; international addresses
    need ``EmailMessage`` with the SMTPUTF8 policy, which writes them as
    UTF-8 as RFC 6532 wants.
    """
    for name, value in (
        ("sender name", sender_name),
        ("subject", subject),
        ("Message-ID", message_id),
        ("sender", sender),
        ("Reply-To", reply_to),
        *(("recipient", r) for r in recipients),
        *(extra_headers or {}).items(),
    ):
        check_header(name, value)
    charset = ENCODINGS.get(encoding.lower())
    if charset is None:
        raise HeaderError(f"unsupported encoding {encoding!r}; use utf-8 or iso-8859-1")
    headers = {
        "Date": formatdate(usegmt=True),
        "Message-ID": message_id,
        # RFC 3834: tells auto-responders not to answer, which stops mail loops.
        "Auto-Submitted": "auto-generated",
        **(extra_headers or {}),
    }
    if needs_smtputf8(sender, recipients, reply_to):
        return _build_international(
            sender, sender_name, recipients, subject, body_text, body_html, reply_to, charset, headers, attachments
        )
    if attachments:
        # Rare enough for the email package: multipart/mixed, base64 parts,
        # RFC 2231 file names. International domains as punycode, as below.
        return _build_international(
            transport_address(sender)[0],
            sender_name,
            [transport_address(r)[0] for r in recipients],
            subject,
            body_text,
            body_html,
            transport_address(reply_to)[0] if reply_to else "",
            charset,
            headers,
            attachments,
            utf8=False,
        )
    # International domains with ASCII local parts travel as punycode.
    sender, reply_to = transport_address(sender)[0], transport_address(reply_to)[0] if reply_to else ""
    recipients = [transport_address(r)[0] for r in recipients]
    return _assemble(sender, sender_name, recipients, subject, body_text or "", body_html, reply_to, charset, headers)


def _assemble(sender, sender_name, recipients, subject, body_text, body_html, reply_to, charset, headers) -> bytes:
    """MIME by hand from standard encoders (the email package's ``Header``
    for encoded words, ``binascii`` for quoted-printable): the generic
    generator spent more time folding headers than the SMTP exchange took.
    ``tests/test_mime.py`` parses the result back with the email package."""
    cs = Charset(charset)
    cs.header_encoding = QP
    lines = [
        _header("From", formataddr((sender_name, sender), _header_charset(sender_name, cs)), cs, encoded=True),
        _header("To", ", ".join(recipients), cs),
    ]
    if reply_to:
        lines.append(_header("Reply-To", reply_to, cs))
    lines.append(_header("Subject", subject, cs))
    lines += [_header(name, value, cs) for name, value in headers.items()]
    lines.append("MIME-Version: 1.0\r\n")
    text_part = _part("plain", body_text, cs)
    if not body_html:
        return ("".join(lines) + text_part).encode("ascii")
    # "=_" never occurs in quoted-printable output, so this boundary cannot
    # collide with the content.
    boundary = f"=_pw{uuid.uuid4().hex}"
    lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n')
    body = f"--{boundary}\r\n{text_part}\r\n--{boundary}\r\n{_part('html', body_html, cs)}\r\n--{boundary}--\r\n"
    return ("".join(lines) + body).encode("ascii")


def _header_charset(value: str, cs: Charset) -> Charset:
    """The chosen charset where it can carry the text, else UTF-8: an encoded
    word may use any charset, so a header never loses a character."""
    try:
        value.encode(cs.input_charset)
        return cs
    except UnicodeEncodeError:
        utf8 = Charset("utf-8")
        utf8.header_encoding = QP
        return utf8


def _header(name: str, value: str, cs: Charset, *, encoded: bool = False) -> str:
    if encoded or (value.isascii() and len(name) + len(value) < 76):
        return f"{name}: {value}\r\n"
    if value.isascii():
        return f"{name}: {Header(value, 'us-ascii', header_name=name).encode(linesep=CRLF)}\r\n"
    return f"{name}: {_encoded_words(name, value, _header_charset(value, cs).output_charset or 'utf-8')}\r\n"


def _encoded_words(name: str, value: str, charset: str) -> str:
    """``value`` as RFC 2047 "B" encoded words, folded so that no line is
    longer than 78 characters and no word longer than 75 (RFC 2047 2).

    The email package's ``Header.encode`` measures the Q encoding character
    by character in Python while it looks for fold points: most of the CPU
    time of building a mail with a German subject. Base64 of whole
    characters (a multi-byte character is never split across words) is
    measured by its byte count alone."""
    overhead = len(charset) + 7  # =?charset?b?...?=
    words: list[str] = []
    budget = 78 - len(name) - 2  # the first line also holds "Name: "
    chunk = b""
    for char in value:
        data = char.encode(charset)
        if chunk and overhead + 4 * -(-(len(chunk) + len(data)) // 3) > min(75, budget):
            words.append(f"=?{charset}?b?{binascii.b2a_base64(chunk, newline=False).decode()}?=")
            chunk, budget = b"", 77  # a continuation line starts with one space
        chunk += data
    words.append(f"=?{charset}?b?{binascii.b2a_base64(chunk, newline=False).decode()}?=")
    return (CRLF + " ").join(words)


def _part(subtype: str, content: str, cs: Charset) -> str:
    content = _encodable(content, cs.input_charset).replace("\r\n", "\n").replace("\r", "\n")
    # binascii's quoted-printable (C) instead of the email package's (Python),
    # a third of the time of building a message.
    encoded = (
        binascii.b2a_qp(content.encode(cs.output_charset), quotetabs=False, istext=True, header=False)
        .decode("ascii")
        .replace("\n", "\r\n")
    )
    if not encoded.endswith("\r\n"):
        encoded += "\r\n"
    return (
        f'Content-Type: text/{subtype}; charset="{cs.output_charset}"\r\n'
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{encoded}"
    )


def _build_international(
    sender,
    sender_name,
    recipients,
    subject,
    body_text,
    body_html,
    reply_to,
    charset,
    headers,
    attachments=None,
    *,
    utf8: bool = True,
) -> bytes:
    chosen = policy.SMTPUTF8 if utf8 else policy.SMTP
    msg = EmailMessage(policy=chosen)
    msg["From"] = _address(sender, sender_name)
    msg["To"] = [_address(r) for r in recipients]
    if reply_to:
        msg["Reply-To"] = _address(reply_to)
    msg["Subject"] = subject
    for name, value in headers.items():
        msg[name] = value
    text = body_text or ""
    msg.set_content(_encodable(text, charset), charset=charset, cte=_cte(text))
    if body_html:
        msg.add_alternative(_encodable(body_html, charset), subtype="html", charset=charset, cte=_cte(body_html))
    for filename, content_type, content in attachments or ():
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=chosen)


def _cte(text: str) -> str | None:
    """7-bit transfer encoding always: policy.SMTP would pick 8bit, which a
    server without 8BITMIME must not get. None lets the library choose among
    7bit (ASCII) and the rest."""
    return None if text.isascii() else "quoted-printable"


def needs_smtputf8(sender: str, recipients: list[str], reply_to: str = "") -> bool:
    """Only a non-ASCII local part needs SMTPUTF8 (RFC 6531); an
    international domain goes out as punycode."""
    return any(transport_address(a)[1] for a in (sender, reply_to, *recipients) if a)


def _encodable(text: str, charset: str) -> str:
    """ISO-8859-1 cannot carry every character; replace, never crash a send."""
    if charset == "utf-8":
        return text
    return text.encode(charset, errors="replace").decode(charset)
