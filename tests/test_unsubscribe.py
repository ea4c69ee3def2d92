"""Unsubscribe: bulk mail carries RFC 8058 one-click List-Unsubscribe with a
link signed per recipient; the opt-out holds for every later bulk rule of
the tenant and never touches transactional or system mail.

Mail goes through a real worker to the aiosmtpd sink; the link is taken from
the header the sink received and used by a client that is not logged in.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from core import opt_outs
from core.events import emit
from core.extensions import db
from core.models import AuditEntry, Message, MessageStatus, OptOut, Rule
from core.models.message import Priority
from tests.helpers import csrf_token
from tests.test_admin_pages import BASE, admin, page  # noqa: F401  (fixture)
from tests.test_http_api import TICKET

ERIKA = "erika@example.org"


def _rules(tenant_id: int) -> tuple[Rule, Rule]:
    """The ticket plugin's reporter rule as transactional mail, and a bulk
    "newsletter" rule to the same person."""
    transactional = (
        db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id, Rule.event == "TICKET_CREATED"))
        .scalars()
        .first()
    )
    bulk = Rule(
        tenant_id=tenant_id,
        name="Newsletter",
        event="TICKET_CREATED",
        recipient="role:reporter",
        template_key="ticket_created",
        active=True,
        priority=Priority.BULK,
    )
    db.session.add(bulk)
    db.session.commit()
    return transactional, bulk


def _by_priority(sink) -> dict[str, list]:
    """Received mails to Erika split by whether they carry the header."""
    mails = [m for m in sink.messages if m.rcpt_tos == [ERIKA]]
    return {
        "bulk": [m for m in mails if m.message["List-Unsubscribe"]],
        "other": [m for m in mails if not m.message["List-Unsubscribe"]],
    }


def _link(mail) -> str:
    (url,) = re.findall(r"<(https?://[^>]+)>", str(mail.message["List-Unsubscribe"]))
    return url


def test_bulk_mail_carries_one_click_unsubscribe_and_the_opt_out_stops_only_later_bulk_mail(
    app, tenant, smtp_sink, run_worker
):
    transactional, bulk = _rules(tenant.id)
    emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    got = _by_priority(smtp_sink)
    assert len(got["bulk"]) == 1 and len(got["other"]) == 1  # transactional mail never carries it
    (newsletter,) = got["bulk"]
    assert newsletter.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = _link(newsletter)
    assert url.startswith(app.config["PUBLIC_URL"] + "/unsubscribe/")
    # The recipient's mail provider posts the RFC 8058 body: no login, no CSRF token.
    stranger = app.test_client()
    response = stranger.post(
        urlsplit(url).path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:1000]
    (row,) = db.session.execute(db.select(OptOut)).scalars().all()
    assert (row.tenant_id, row.address, row.source) == (tenant.id, ERIKA, "link")

    smtp_sink.clear()
    second_bulk = Rule(
        tenant_id=tenant.id,
        name="Another newsletter",
        event="TICKET_CREATED",
        recipient="role:reporter",
        template_key="ticket_created",
        active=True,
        priority=Priority.BULK,
    )
    system = Rule(
        tenant_id=tenant.id,
        name="System",
        event="TICKET_CREATED",
        recipient="role:reporter",
        template_key="ticket_created",
        active=True,
        priority=Priority.SYSTEM,
    )
    db.session.add_all([second_bulk, system])
    db.session.commit()
    emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    got = _by_priority(smtp_sink)
    assert got["bulk"] == [] and len(got["other"]) == 2  # transactional + system still arrive
    db.session.expire_all()
    skipped = (
        db.session.execute(
            db.select(Message).where(
                Message.rule_id.in_([bulk.id, second_bulk.id]), Message.status == MessageStatus.CANCELLED
            )
        )
        .scalars()
        .all()
    )
    assert len(skipped) == 2
    assert all(m.last_error.startswith(f"not sent: {ERIKA} unsubscribed from bulk mail on ") for m in skipped)
    # An opt-out is not a failure: no "failed" entry, no error in the notification log.
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "mail.failed")).scalars().all() == []


def test_the_link_asks_first_on_get_and_refuses_a_forged_token(app, tenant):
    client = app.test_client()
    token = opt_outs.token(tenant.id, ERIKA, None)
    response = client.get(f"/unsubscribe/{token}")
    assert response.status_code == 200 and "<form" in response.get_data(as_text=True)
    assert db.session.execute(db.select(OptOut)).scalars().all() == []  # a link scanner's GET does nothing
    forged = opt_outs.token(tenant.id, ERIKA, None)[:-3] + "abc"
    assert client.post(f"/unsubscribe/{forged}").status_code == 404
    # Signed for another address: a different token, and nobody else is touched.
    other = opt_outs.token(tenant.id, "max@example.org", None)
    assert other != token
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    assert client.post(f"/unsubscribe/{token}").status_code == 200  # twice: one record
    assert [r.address for r in db.session.execute(db.select(OptOut)).scalars()] == [ERIKA]


def test_bulk_mail_fails_with_a_clear_reason_without_a_public_url(app, tenant, smtp_sink, run_worker):
    _, bulk = _rules(tenant.id)
    app.config["PUBLIC_URL"] = None
    try:
        emit(tenant.id, "TICKET_CREATED", TICKET)
        db.session.commit()
        run_worker()
    finally:
        app.config["PUBLIC_URL"] = "http://localhost:5000"
    db.session.expire_all()
    (message,) = db.session.execute(db.select(Message).where(Message.rule_id == bulk.id)).scalars().all()
    assert message.status == MessageStatus.FAILED
    assert "POSTWERK_PUBLIC_URL" in message.last_error
    assert [m.rcpt_tos for m in smtp_sink.messages] == [[ERIKA]]  # the transactional one went


def test_the_admin_sees_adds_and_removes_opt_outs_on_the_suppression_page(admin, tenant):
    opt_outs.record(tenant.id, "Max@Example.org", source="link", note="the recipient's unsubscribe link")
    db.session.commit()
    html = page(admin, BASE + "/suppression")
    assert "max@example.org" in html and 'id="opt-outs"' in html
    response = admin.post(
        BASE + "/suppression/opt-outs",
        data={"csrf_token": csrf_token(html), "address": "anna@example.org", "note": "asked by phone"},
    )
    assert response.status_code == 302
    response = admin.post(BASE + "/suppression/opt-outs", data={"csrf_token": csrf_token(html), "address": "no"})
    assert response.status_code == 302
    rows = {r.address: r for r in db.session.execute(db.select(OptOut)).scalars()}
    assert set(rows) == {"max@example.org", "anna@example.org"} and rows["anna@example.org"].source == "admin"
    response = admin.post(
        f"{BASE}/suppression/opt-outs/{rows['max@example.org'].id}/remove", data={"csrf_token": csrf_token(html)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert [r.address for r in db.session.execute(db.select(OptOut)).scalars()] == ["anna@example.org"]


@pytest.mark.parametrize("language, words", [("de", "Abmelden"), ("en", "Unsubscribe")])
def test_the_unsubscribe_page_speaks_the_browsers_language(app, tenant, language, words):
    client = app.test_client()
    response = client.get(f"/unsubscribe/{opt_outs.token(tenant.id, ERIKA)}", headers={"Accept-Language": language})
    assert words in response.get_data(as_text=True)
