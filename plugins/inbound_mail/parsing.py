"""From raw bytes to an InboundMail, within caps.

Every cap is checked before the work it bounds: the size before download,
the header block and the number of parts by a linear scan of the bytes before
the MIME parser runs, the nesting depth right after it. A mail over a cap is
not parsed further: it raises :class:`Rejected`, and the caller keeps it aside.
"""

from __future__ import annotations

import codecs
import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass
from email import errors, policy
from email.header import decode_header, make_header
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.parser import BytesParser

import nh3
from inscriptis import get_text

from core.api import InboundAttachment, InboundMail


@dataclass(frozen=True)
class Limits:
    """Caps for one mail; an admin's server may allow more, we do not."""

    max_bytes: int = 25 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_parts: int = 200
    max_depth: int = 8
    #: How much of a mail kept aside is stored in the database.
    keep_raw_bytes: int = 2 * 1024 * 1024


class Rejected(Exception):
    """A mail that is kept aside instead of handled: ``code`` and the words."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# Defects after which the structure we would read is a guess.
_FATAL_DEFECTS = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
    errors.InvalidMultipartContentTransferEncodingDefect,
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_PART_HEADER = re.compile(rb"(?im)^content-type:")
_BOUNDARY_LINE = re.compile(rb"(?m)^--\S")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")
_SURROGATES = re.compile(r"[\udc80-\udcff]")
_UNQUOTED_BOUNDARY = re.compile(rb'(?im)(^content-type:[^\r\n]*;\s*boundary=)([^"\s;]*=[^\s;]*)')


class _HeaderClasses(HeaderRegistry):
    """The email package's header factory, but each header class is made
    once: the stock one builds a new class with ``type()`` for every header
    it parses."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(key)
        return made


_HEADER_CLASSES = _HeaderClasses()


class _MailPolicy(policy.EmailPolicy):
    """``policy.default`` that parses each header value once per mail.

    The email package parses a header again on every read, and sorting a mail
    reads the same few many times (Content-Type for every
    ``get_content_type()``, From for the sender and the bounce check): about
    38 reads for 24 parses per mail, a third of a poll's time. One policy
    per parsed mail holds that mail's parsed headers and goes with it."""

    def __init__(self, **kw) -> None:
        kw.setdefault("header_factory", _HEADER_CLASSES)
        super().__init__(**kw)
        object.__setattr__(self, "_parsed", {})

    def header_fetch_parse(self, name, value):
        if hasattr(value, "name"):
            return value
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = super().header_fetch_parse(name, value)
        return found


def parser() -> BytesParser:
    """A parser for one mail (its policy keeps that mail's parsed headers)."""
    return BytesParser(policy=_MailPolicy())


def header_block(raw: bytes) -> bytes:
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


def check_size(size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise Rejected("too_large", f"{size} bytes; the limit is {limits.max_bytes} bytes")


def parse(raw: bytes, limits: Limits) -> EmailMessage:
    """Parse within the caps, or raise :class:`Rejected`."""
    check_size(len(raw), limits)
    match = _HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    if match is None and len(raw) > limits.max_header_bytes:
        raise Rejected("header_too_large", f"the header is longer than {limits.max_header_bytes} bytes")
    # A cheap upper bound on the parts before the parser builds them all.
    declared = sum(1 for _ in _PART_HEADER.finditer(raw))
    boundaries = sum(1 for _ in _BOUNDARY_LINE.finditer(raw))
    if declared > limits.max_parts or boundaries > 2 * limits.max_parts + 2:
        raise Rejected("too_many_parts", f"more than {limits.max_parts} MIME parts")
    msg = _parse_bytes(raw)
    if _top_defect(msg) is not None:
        # Mail clients read an unquoted boundary such as ``----=_Part_1`` (not a
        # valid token: "=" is a tspecial) as compat32 does; policy.default cuts
        # it at the "=" and finds no part at all.
        repaired = _UNQUOTED_BOUNDARY.sub(rb'\1"\2"', raw)
        if repaired != raw:
            second = _parse_bytes(repaired)
            if _top_defect(second) is None:
                msg = second
    _check_structure(msg, limits)
    decode_raw_headers(msg)
    return msg


def _parse_bytes(raw: bytes) -> EmailMessage:
    try:
        return parser().parsebytes(raw)
    except Exception as exc:  # RecursionError included; the parser is lenient; anything it raises is malformed input
        raise Rejected("malformed", f"the MIME structure cannot be read ({type(exc).__name__})") from None


def _top_defect(msg: EmailMessage):
    fatal = [d for d in msg.defects if isinstance(d, _FATAL_DEFECTS)]
    return fatal[0] if fatal else None


def _charset_known(name: str | None) -> bool:
    try:
        return bool(name) and codecs.lookup(name) is not None
    except LookupError:
        return False


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Raw 8-bit header bytes as text: UTF-8 (RFC 6532), else the charset the
    body declares, else windows-1252 (which maps every byte but five; those
    become U+FFFD)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared and _charset_known(declared):
        try:
            return data.decode(declared)
        except (UnicodeDecodeError, LookupError):
            pass
    return data.decode("windows-1252", "replace")


def _fix(value: str, declared: str | None) -> str:
    if not _SURROGATES.search(value):
        return value
    return decode_text(value.encode("ascii", "surrogateescape"), declared)


def decode_raw_headers(msg: EmailMessage) -> None:
    """Replace raw 8-bit bytes in every part's headers by the text they mean.

    The parser keeps such bytes as lone surrogates: an address with them
    cannot be stored, a name with them cannot be shown."""
    top = msg.get_content_charset()
    for part in msg.walk():
        declared = part.get_content_charset() or top
        # The raw (name, value) list is the only way to rewrite repeated
        # headers in place, in their order; values are parsed when read.
        part._headers = [
            (name, _fix(value, declared) if isinstance(value, str) else value) for name, value in part._headers
        ]


def _check_structure(msg: EmailMessage, limits: Limits) -> None:
    parts, stack = 0, [(msg, 0)]
    while stack:
        part, depth = stack.pop()
        parts += 1
        if parts > limits.max_parts:
            raise Rejected("too_many_parts", f"more than {limits.max_parts} MIME parts")
        if depth > limits.max_depth:
            raise Rejected("too_deep", f"MIME parts nested deeper than {limits.max_depth} levels")
        fatal = [d for d in part.defects if isinstance(d, _FATAL_DEFECTS)]
        if fatal and depth == 0:
            raise Rejected("malformed", f"malformed MIME: {type(fatal[0]).__name__}")
        if fatal and part.get_content_maintype() == "multipart" and not part.is_multipart():
            # A broken multipart further down is one leaf with its raw text (an
            # attachment); the rest of the mail is still good. As "multipart"
            # get_body() would walk the characters of that text.
            part.replace_header("content-type", "application/octet-stream")
        if part.is_multipart():
            stack.extend((child, depth + 1) for child in part.get_payload())


def fingerprint(msg_id: str, from_address: str, raw: bytes) -> str:
    """Identity of a mail independent of where the server keeps it: its
    Message-ID with its sender (so a stranger reusing an ID does not make a
    person's mail a "duplicate"), else a hash of its bytes."""
    if msg_id:
        key = f"{msg_id}\0{from_address}".encode("utf-8", "surrogateescape")
        return "mid:" + hashlib.sha256(key).hexdigest()
    return "sha:" + hashlib.sha256(raw).hexdigest()


def clean_header(value: object, limit: int = 998) -> str:
    """A header value as one safe line: no CR, LF, NUL or other controls."""
    text = _SURROGATES.sub("\ufffd", str(value or ""))  # raw bytes the parser could not read
    return _UNSAFE.sub(" ", text).strip()[:limit]


def message_id(msg: EmailMessage) -> str:
    try:
        return clean_header(msg.get("message-id", ""), 255)
    except Exception:  # an unreadable header is no identity
        return ""


def sender(msg: EmailMessage) -> tuple[str, str]:
    """(address, display name) of the single From address, else ("", "")."""
    try:
        header = msg["from"]
        addresses = getattr(header, "addresses", ())
    except Exception:
        return "", ""
    spec = addresses[0].addr_spec if len(addresses) == 1 else ""
    # Cut to length, an address would be another address: refuse it instead.
    if not spec or "@" not in spec or len(spec) > 254:
        return "", ""
    return clean_header(addresses[0].addr_spec, 254).lower(), clean_header(addresses[0].display_name, 200)


def _addresses(msg: EmailMessage, *names: str) -> tuple[str, ...]:
    found: list[str] = []
    for name in names:
        for header in msg.get_all(name, []):
            for address in getattr(header, "addresses", ()):
                if address.addr_spec and "@" in address.addr_spec:
                    found.append(clean_header(address.addr_spec, 254).lower())
    return tuple(found)


def _text_of(part) -> str:
    try:
        return part.get_content()
    except LookupError:
        raise Rejected("unknown_charset", f"unknown charset {part.get_content_charset()!r}") from None


#: Extensions for unnamed parts; mimetypes (the system's table) for the rest.
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/x-pkcs7-mime": ".p7m",
    "application/pgp-signature": ".asc",
    "application/ms-tnef": ".dat",
    "application/octet-stream": ".bin",
}
_NAME_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
#: The binary form of a message/rfc822 attachment: 8-bit headers stay as they are.
_EML_POLICY = policy.default.clone(utf8=True)


def _extension(content_type: str) -> str:
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"


def _filename(part) -> str:
    name = part.get_filename() or ""
    if "=?" in name:
        # RFC 2047 inside a parameter is not allowed, and what most clients write.
        try:
            name = str(make_header(decode_header(name)))
        except Exception:  # undecodable: keep the name as written
            pass
    return os.path.basename(clean_header(name, 255).replace("\\", "/"))


def _leaves(part):
    """Every part that carries content, in order; a message/* part is one leaf."""
    if part.get_content_maintype() == "message" or not part.is_multipart():
        yield part
        return
    for child in part.iter_parts():
        yield from _leaves(child)


def _attachment(part, number: int) -> InboundAttachment:
    content_type = part.get_content_type()
    filename = _filename(part)
    if content_type == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else None
        content = inner.as_bytes(policy=_EML_POLICY) if inner is not None else (part.get_payload(decode=True) or b"")
        if not filename:
            subject = clean_header(inner.get("subject", "") if inner is not None else "", 100)
            filename = (_NAME_UNSAFE.sub("_", subject).strip(" .") or "message") + ".eml"
    elif part.get_content_maintype() == "message" and part.is_multipart():
        content = b"\n".join(block.as_bytes(policy=_EML_POLICY) for block in part.get_payload())
    else:
        content = part.get_payload(decode=True) or b""
    if not filename:
        filename = f"attachment-{number}{_extension(content_type)}"
    return InboundAttachment(filename=filename, content_type=content_type, content=content)


def _clean_html(html: str) -> str:
    # <head> and <title> are no part of what the sender wrote to us.
    return nh3.clean(html, clean_content_tags={"script", "style", "head", "title"})


def to_inbound(msg: EmailMessage, *, mailbox: str, authenticated: bool, sender_trusted: bool = False) -> InboundMail:
    """The plain, sanitised data a plugin sees; raises :class:`Rejected`."""
    try:
        return _to_inbound(msg, mailbox=mailbox, authenticated=authenticated, sender_trusted=sender_trusted)
    except Rejected:
        raise
    except Exception as exc:  # the email package's lenient parsing has corners that raise
        raise Rejected("malformed", f"a header or part cannot be read ({type(exc).__name__})") from None


def _to_inbound(msg: EmailMessage, *, mailbox: str, authenticated: bool, sender_trusted: bool) -> InboundMail:
    from_address, from_name = sender(msg)
    body = msg.get_body(("plain", "html"))
    text = html = ""
    chosen = set()
    if body is not None:
        chosen.add(id(body))
        if body.get_content_type() == "text/plain":
            text = _text_of(body)
            alternative = msg.get_body(("html",))
            if alternative is not None:
                chosen.add(id(alternative))
                html = _clean_html(_text_of(alternative))
        else:
            html = _clean_html(_text_of(body))
            text = get_text(html)
    # Every leaf that is not the body, however deep (S/MIME-signed mail nests
    # the real attachments one multipart down), and the mail itself when it is
    # nothing but an attachment.
    try:
        leaves = [p for p in _leaves(msg) if id(p) not in chosen]
        attachments = tuple(_attachment(p, n) for n, p in enumerate(leaves, 1))
    except LookupError as exc:
        raise Rejected("unknown_charset", str(exc)) from None
    references = tuple(clean_header(msg.get("references", ""), 10000).split())
    return InboundMail(
        mailbox=mailbox,
        message_id=message_id(msg),
        from_address=from_address,
        from_name=from_name,
        to=_addresses(msg, "to", "cc"),
        subject=clean_header(msg.get("subject", ""), 998),
        text=text.replace("\r\n", "\n"),
        html=html,
        authenticated=authenticated and bool(from_address),
        sender_trusted=(authenticated or sender_trusted) and bool(from_address),
        in_reply_to=clean_header(msg.get("in-reply-to", ""), 255),
        references=references,
        attachments=attachments,
    )
