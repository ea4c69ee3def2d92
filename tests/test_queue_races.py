"""Two admins (or two tabs) act on one message at the same instant: exactly
one action wins, enforced by the database, on SQLite and PostgreSQL.

Each race is run ROUNDS times with real threads, each with its own logged-in
client (own session, own database connection), released together by a
barrier; the database decides, not the timing of the test.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import g
from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditEntry, Message, MessageStatus
from core.models.types import utcnow
from tests.helpers import csrf_token, login
from tests.test_admin_pages import BASE, make_message, page

ROUNDS = 30
BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def admins(app, tenant):
    """Two logged-in admin clients with their CSRF tokens."""
    clients = []
    for _ in range(2):
        # Requests of this thread share the test's app context, and with it
        # flask-wtf's token in g: each client needs its own.
        g.pop("csrf_token", None)
        client = app.test_client()
        login(client)
        clients.append((client, csrf_token(page(client, BASE + "/queue"))))
    return clients


def at_once(admins, url: str, data: dict) -> list[int]:
    """POST ``data`` to ``url`` from every admin at the same instant; the status codes."""
    barrier = threading.Barrier(len(admins))
    codes: list[int] = []

    def act(client, token):
        barrier.wait()
        codes.append(client.post(url, data={"csrf_token": token, **data}).status_code)

    threads = [threading.Thread(target=act, args=pair) for pair in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return codes


def _audits(action: str, message_id: int) -> int:
    return db.session.execute(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.object_id == str(message_id))
    ).scalar()


@BACKENDS
def test_two_resends_at_once_make_one_copy(tenant, admins):
    tid = tenant.id
    for n in range(ROUNDS):
        original = make_message(tid, n, status=MessageStatus.FAILED).id
        assert at_once(admins, BASE + "/queue/resend", {"id": original}) == [302, 302]
        db.session.remove()
        copies = db.session.execute(select(Message.id).where(Message.resend_of_id == original)).scalars().all()
        assert len(copies) == 1, f"round {n}: {len(copies)} copies"
        assert _audits("message.resend", original) == 1
        assert db.session.get(Message, original).resent_as_id == copies[0]


@BACKENDS
def test_two_send_nows_at_once_record_one(tenant, admins):
    tid = tenant.id
    for n in range(ROUNDS):
        waiting = make_message(tid, n, status=MessageStatus.PENDING, next_attempt_at=utcnow() + timedelta(hours=1)).id
        assert at_once(admins, BASE + "/queue/send-now", {"id": waiting}) == [302, 302]
        db.session.remove()
        assert _audits("message.send_now", waiting) == 1, f"round {n}"
        assert db.session.get(Message, waiting).next_attempt_at <= utcnow()


@BACKENDS
def test_two_deletes_at_once_delete_once(tenant, admins):
    tid = tenant.id
    for n in range(ROUNDS):
        doomed = make_message(tid, n, status=MessageStatus.FAILED).id
        before = _audits("message.deleted", doomed)  # SQLite may give a deleted row's id again
        # The loser finds the message gone (404) or is told nothing changed (302).
        assert sorted(at_once(admins, BASE + "/queue/delete", {"id": doomed})) in ([302, 302], [302, 404])
        db.session.remove()
        assert db.session.get(Message, doomed) is None
        assert _audits("message.deleted", doomed) == before + 1, f"round {n}"


@BACKENDS
def test_resend_all_failed_twice_resends_each_message_once(tenant, admins):
    tid = tenant.id
    failed = [make_message(tid, n, status=MessageStatus.FAILED).id for n in range(5)]
    client, token = admins[0]
    for _ in range(2):  # one click after the other; the first copies are delivered in between
        response = client.post(BASE + "/queue/resend-failed", data={"csrf_token": token, "id": "bulk"})
        assert response.status_code == 302
        db.session.remove()
        db.session.execute(
            Message.__table__.update().where(Message.resend_of_id.is_not(None)).values(status=MessageStatus.SENT)
        )
        db.session.commit()
    for message in failed:
        copies = db.session.execute(select(Message.id).where(Message.resend_of_id == message)).scalars().all()
        assert len(copies) == 1, f"message {message} resent {len(copies)} times"


@BACKENDS
def test_resend_all_failed_pressed_twice_at_once_resends_each_message_once(tenant, admins):
    tid = tenant.id
    for n in range(ROUNDS // 3):
        failed = [make_message(tid, 100 * n + k, status=MessageStatus.FAILED).id for k in range(4)]
        assert at_once(admins, BASE + "/queue/resend-failed", {"id": "bulk"}) == [302, 302]
        db.session.remove()
        for message in failed:
            copies = db.session.execute(
                select(func.count()).select_from(Message).where(Message.resend_of_id == message)
            ).scalar()
            assert copies == 1, f"round {n}: message {message} resent {copies} times"


def test_the_original_links_to_its_resend(tenant, admins):
    tid = tenant.id
    original = make_message(tid, 0, status=MessageStatus.FAILED).id
    client, token = admins[0]
    client.post(BASE + "/queue/resend", data={"csrf_token": token, "id": original})
    db.session.remove()
    copy_id = db.session.get(Message, original).resent_as_id
    assert copy_id
    link = f'href="{BASE}/queue/body?id={copy_id}"'
    assert link in page(client, BASE + "/queue") and f"resent as #{copy_id}" in page(client, BASE + "/queue")
    body = page(client, f"{BASE}/queue/body?id={original}")
    assert link in body
