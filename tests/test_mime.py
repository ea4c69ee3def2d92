"""Messages as bytes: parsed back by the email package, nothing lost or injected."""

from __future__ import annotations

import itertools
import re
from email import policy
from email.parser import BytesParser, Parser

import pytest

from core.mail import mime
from core.mail.mime import HeaderError, build


def _parse(data: bytes):
    return BytesParser(policy=policy.default).parsebytes(data)


def _build(**kw):
    values = dict(
        sender="noreply@acme.example",
        sender_name="Hausverwaltung Müller & Söhne",
        recipients=["erika@example.org"],
        subject="[#7] Heizung fällt aus",
        body_text="Grüße\n.\nEnde",
        body_html="<p>Grüße — ü</p>",
        message_id="<m1@acme.example>",
        reply_to="office@acme.example",
    )
    values.update(kw)
    return build(**values)


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1"])
def test_non_ascii_names_subjects_and_bodies_round_trip(encoding):
    msg = _parse(_build(encoding=encoding))
    assert msg.defects == []
    assert msg["From"].addresses[0].display_name == "Hausverwaltung Müller & Söhne"
    assert msg["Subject"] == "[#7] Heizung fällt aus"
    assert msg["Reply-To"] == "office@acme.example"
    assert msg["Message-ID"] == "<m1@acme.example>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Grüße\n.\nEnde\n"
    html = msg.get_body(("html",))
    assert html.get_content_charset() == encoding
    expected = "<p>Grüße — ü</p>" if encoding == "utf-8" else "<p>Grüße ? ü</p>"
    assert html.get_content().strip() == expected


def test_long_subject_is_folded_and_lines_stay_short():
    subject = "Ein sehr langer Betreff " * 12
    data = _build(subject=subject.strip(), body_text="x" * 5000)
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert _parse(data)["Subject"] == subject.strip()


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", "Hallo\r\nBcc: evil@example.net"),
        ("sender_name", "x\nBcc: evil@example.net"),
        ("recipients", ["a@example.org\r\nBcc: evil@example.net"]),
        ("reply_to", "a@example.org\x00"),
    ],
)
def test_line_breaks_in_header_values_are_refused(field, value):
    with pytest.raises(HeaderError):
        _build(**{field: value})


def test_international_address_uses_utf8_headers():
    data = _build(recipients=["jürgen@müller.example"])
    # RFC 6532: raw UTF-8 in the header, no encoded words.
    assert "To: jürgen@müller.example\r\n".encode() in data
    parsed = Parser(policy=policy.default).parsestr(data.decode("utf-8"))
    assert parsed["To"].addresses[0].username == "jürgen"
    assert parsed["Subject"] == "[#7] Heizung fällt aus"


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1"])
def test_awkward_bodies_survive_quoted_printable(encoding):
    """Trailing blanks, tabs, a lone dot, '=' signs, a 300-character word,
    Windows and old Mac line ends: back exactly (line ends as newline)."""
    body = (
        "Zeile mit Leerzeichen am Ende   \r\nTab\tmitten und am Ende\t\r.\n=3D ist kein Code = Gleich\n"
        + "x" * 300
        + "\nÄrger über Öl\n"
    )
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    data = _build(encoding=encoding, body_text=body, body_html="<p>" + body + "</p>")
    body_lines = data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body_lines) <= 76  # RFC 2045's limit for quoted-printable
    msg = _parse(data)
    assert msg.defects == []
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == expected
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n").strip() == "<p>" + expected + "</p>"


SUBJECTS = [
    "[#1] Ihre Meldung: Heizung fällt aus",
    "ä" * 200,
    "€uro und Ümläute " * 10,
    "😀" * 40,
    "a" * 70 + "ß",
    "Grüße – „Zitat“ — ok ??=?= _ test",
    "x" * 90 + " ö",
]


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1"])
@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_non_ascii_subject_comes_back_whole_in_words_no_longer_than_the_rfc_allows(subject, encoding):
    from email import message_from_bytes
    from email import policy as email_policy

    data = mime.build(
        sender="a@example.org",
        sender_name="Bö",
        recipients=["b@example.org"],
        subject=subject,
        body_text="hi",
        body_html="<p>hi</p>",
        message_id="<x@example.org>",
        encoding=encoding,
    )
    head = data.split(b"\r\n\r\n")[0].decode("ascii")  # nothing but ASCII on the wire
    lines = head[head.index("Subject:") :].split("\r\n")
    subject_lines = [lines[0]] + list(itertools.takewhile(lambda line: line.startswith(" "), lines[1:]))
    assert all(len(line) <= 78 for line in subject_lines)  # RFC 5322 2.1.1
    words = re.findall(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=", "".join(subject_lines))
    assert words and all(len(word) <= 75 for word in words)  # RFC 2047 2
    assert str(message_from_bytes(data, policy=email_policy.default)["Subject"]) == subject
