"""Every page in German when German is chosen: a walk over every page that
fails on any English string of the UI's own catalogue (issue 17)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from babel.messages.pofile import read_po

from core.extensions import db
from core.models import Message, MessageStatus
from core.plugins import registry
from tests.helpers import csrf_token, login, make_tenant

CATALOGUE = Path(__file__).resolve().parent.parent / "core" / "translations" / "de" / "LC_MESSAGES" / "messages.po"
PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
# Words that read the same in both languages or are names, not UI text.
# "English" is the language switcher's own name for English.
SAME_IN_BOTH = {"Postwerk", "AUTOMATE", "API tokens", "E-mail", "English"}


def english_phrases() -> list[str]:
    """Phrases of two words or more that the UI shows in English and has in German."""
    messages = []
    # The core's catalogue and the bundled plugins' own (their Babel domains).
    for path in [CATALOGUE, *sorted(PLUGINS.glob("*/translations/de/LC_MESSAGES/*.po"))]:
        with path.open("rb") as f:
            messages += list(read_po(f))
    texts = [m.id for m in messages if m.id and isinstance(m.id, str) and m.string and m.string != m.id]
    # A phrase the German text keeps too (a name, a code, "Mieter") is no sign of English.
    german = " ".join(m.string for m in messages if isinstance(m.string, str))
    reg = registry()
    for spec, _owner in reg.events.values():
        texts += [
            spec.label,
            spec.description,
            *(r.description for r in spec.roles),
            *(v.description for v in spec.variables),
        ]
    phrases = set()
    for text in texts:
        for part in re.split(r"%\(\w+\)[sd]|\{\{.*?\}\}|[:;.!?()\n]", text):
            part = " ".join(part.split())
            words = part.split()
            if part in german or part.isupper():
                continue
            if (
                (len(words) >= 2 and len(part) >= 8)
                or (len(words) == 1 and len(part) >= 5 and part[0].isupper() and part.isalpha())
            ) and part not in SAME_IN_BOTH:
                phrases.add(part)
    return sorted(phrases, key=len, reverse=True)


def visible_text(html: str) -> str:
    html = re.sub(r"(?is)<(script|style|pre|textarea|iframe)\b.*?</\1>", " ", html)
    # Content marked as English (an English template's subject) is the admin's text, not the UI's.
    html = re.sub(r'(?is)<(a|span|div)\b[^>]*\blang="en"[^>]*>.*?</\1>', " ", html)
    titles = " ".join(re.findall(r'(?:title|placeholder|aria-label)="([^"]*)"', html))
    text = re.sub(r"<[^>]+>", " ", html) + " " + titles
    return " ".join(unescape(text).split())


SKIP = re.compile(r"/logout|/language|\.eml$|/static/|/api/|/favicon|/download|/raw|/oauth/|\.json|/preview|/source")


def walk(client, start: str, limit: int = 80) -> dict[str, str]:
    """Every page reachable by links from ``start``, one of each kind (``?id=1`` stands for every id)."""
    seen: dict[str, str] = {}
    kinds: set[str] = set()
    todo = [start]
    while todo and len(seen) < limit:
        url = todo.pop(0)
        kind = re.sub(r"\d+", "N", url)
        if url in seen or kind in kinds:
            continue
        kinds.add(kind)
        response = client.get(url, headers={"Accept-Language": "de"})
        if response.status_code != 200 or not response.content_type.startswith("text/html"):
            seen[url] = ""
            continue
        html = response.get_data(as_text=True)
        seen[url] = html
        for href in re.findall(r'href="([^"#]+)', html):
            target = urljoin(url, unescape(href))
            parts = urlsplit(target)
            if parts.netloc or SKIP.search(parts.path):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            # One page of each kind: the queue's filters and pages need not all be walked.
            if path not in seen and path not in todo and not re.search(r"[?&](page|before|after|status)=", path):
                todo.append(path)
    return seen


@pytest.fixture
def german_admin(client, ctx, smtp_sink):
    from plugins.homepage.service import submit_inquiry
    from plugins.ticket.service import create_ticket

    tenant = make_tenant("acme", smtp_sink, plugins=("ticket", "vertrag", "homepage", "inbound_mail"))
    create_ticket(
        tenant.id,
        title="Tür klemmt",
        description="Seit Montag",
        reporter_name="Max",
        reporter_email="max@example.org",
        reporter_language="de",
    )
    submit_inquiry(tenant.id, name="Eva", email="eva@example.org", phone="", message="Wohnung frei?")
    db.session.add(
        Message(
            tenant_id=tenant.id,
            message_id="<1@acme.example>",
            sender="noreply@acme.example",
            recipients=["max@example.org"],
            subject="Betreff",
            body_text="Text",
            body_html="<p>x</p>",
            status=MessageStatus.FAILED,
            event_key="TICKET_CREATED",
            last_error="cannot connect to 127.0.0.1:1: Connection refused",
        )
    )
    from core.models import MailSettings
    from core.models.types import utcnow

    settings = db.session.get(MailSettings, tenant.id)
    settings.last_test_at, settings.last_test_result = (
        utcnow(),
        "FAILED: cannot connect to 127.0.0.1:1: Connection refused",
    )
    db.session.commit()
    login(client)
    page = client.get("/").get_data(as_text=True)
    client.post("/language", data={"csrf_token": csrf_token(page), "language": "de", "next": "/"})
    return client


def _english_on(pages: dict[str, str], phrases: list[str]) -> dict[str, list[str]]:
    found = {}
    for url, html in pages.items():
        text = visible_text(html)
        hits = [p for p in phrases if re.search(r"(?<![\w-])" + re.escape(p) + r"(?![\w-])", text)]
        if hits:
            found[url] = hits
    return found


def test_every_page_is_german_when_german_is_chosen(german_admin):
    phrases = english_phrases()
    assert len(phrases) > 300
    pages = walk(german_admin, "/")
    assert len([html for html in pages.values() if html]) >= 20, sorted(pages)
    # A refused save and a dry run are pages too.
    settings = "/settings/admin/mail/settings"
    refused = german_admin.post(
        settings, data={"csrf_token": csrf_token(pages[settings]), "port": "0", "sender_address": "nope"}
    )
    pages["settings (refused)"] = refused.get_data(as_text=True)
    dry = "/settings/admin/mail/rules/dryrun"
    pages["dry run"] = german_admin.post(
        dry, data={"csrf_token": csrf_token(pages[dry]), "target": "rule:1", "source": "sample"}
    ).get_data(as_text=True)
    found = _english_on(pages, phrases)
    assert found == {}


def test_the_login_page_and_its_errors_are_german(client, tenant):
    phrases = english_phrases()
    html = client.get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Anmelden" in html
    refused = client.post(
        "/login",
        data={"csrf_token": csrf_token(html), "tenant": "acme", "email": "x@acme.example", "password": "wrong"},
        headers={"Accept-Language": "de"},
    )
    assert _english_on({"/login": html, "/login (refused)": refused.get_data(as_text=True)}, phrases) == {}
