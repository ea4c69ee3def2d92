"""What expanding a steady stream of events costs per event: the lookups
that are the same for every event of a batch are made once per batch, and
the shortcuts taken for them give the same answers as the long way."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import event as sa_event

from core import bounces
from core.events import emit
from core.extensions import db
from core.mail import jobs, mime
from core.models import Message, MessageStatus
from core.models.suppression import SuppressedAddress


def _ticket_payload(i: int, address: str) -> dict:
    return {
        "ticket": {
            "id": i,
            "title": f"Heizung {i}",
            "description": "kalt",
            "status": "open",
            "reporter": {"name": "Erika Mustermann", "email": address, "language": "de"},
        }
    }


class _Statements:
    """Counts the SQL statements that read the suppression list."""

    def __init__(self):
        self.count = 0

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if "suppressed_address" in statement and statement.lstrip().upper().startswith("SELECT"):
            self.count += 1


def _expand_counting(tenant_id: int) -> int:
    counter = _Statements()
    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", counter)
    try:
        jobs.expand_events(tenant_id)
    finally:
        sa_event.remove(engine, "before_cursor_execute", counter)
    return counter.count


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_batch_of_events_reads_the_suppression_list_once_and_still_skips_suppressed(tenant):
    db.session.add(
        SuppressedAddress(
            tenant_id=tenant.id, address="weg@mieter.example", suppressed=True, reason="5.1.1 user unknown"
        )
    )
    for i in range(30):
        emit(
            tenant.id,
            "TICKET_CREATED",
            _ticket_payload(i, "weg@mieter.example" if i == 7 else f"mieter{i}@example.org"),
        )
    db.session.commit()

    reads = _expand_counting(tenant.id)

    # One read per batch of events, not one per event (30 here, in one batch).
    assert reads == 1
    rows = db.session.execute(db.select(Message).order_by(Message.id)).scalars().all()
    assert len(rows) == 30
    blocked = [r for r in rows if r.recipients == ["weg@mieter.example"]]
    assert len(blocked) == 1 and blocked[0].status == MessageStatus.FAILED
    assert "suppression list" in blocked[0].last_error and "5.1.1" in blocked[0].last_error
    assert all(r.status == MessageStatus.PENDING for r in rows if r is not blocked[0])


def test_a_suppression_list_too_long_to_hold_is_asked_per_event(tenant, monkeypatch):
    monkeypatch.setattr(bounces.SuppressionSnapshot, "PRELOAD", 1)
    db.session.add_all(
        [
            SuppressedAddress(tenant_id=tenant.id, address="weg@mieter.example", suppressed=True, reason="hard"),
            SuppressedAddress(tenant_id=tenant.id, address="auch-weg@mieter.example", suppressed=True, reason="hard"),
            # Soft bounces so far: counted, not suppressed.
            SuppressedAddress(tenant_id=tenant.id, address="wackelt@mieter.example", suppressed=False, soft_bounces=2),
        ]
    )
    addresses = ["Weg@Mieter.example", "ok@example.org", "wackelt@mieter.example", "auch-weg@mieter.example"]
    for i, address in enumerate(addresses):
        emit(tenant.id, "TICKET_CREATED", _ticket_payload(i, address))
    db.session.commit()

    reads = _expand_counting(tenant.id)

    assert reads == 1 + len(addresses)  # the snapshot gave up, then one read per event
    status = {r.recipients[0].lower(): r.status for r in db.session.execute(db.select(Message)).scalars()}
    assert status == {
        "weg@mieter.example": MessageStatus.FAILED,
        "ok@example.org": MessageStatus.PENDING,
        "wackelt@mieter.example": MessageStatus.PENDING,
        "auch-weg@mieter.example": MessageStatus.FAILED,
    }


def test_an_address_suppressed_between_two_batches_is_skipped_in_the_second(tenant):
    emit(tenant.id, "TICKET_CREATED", _ticket_payload(1, "bald-weg@mieter.example"))
    db.session.commit()
    jobs.expand_events(tenant.id)
    bounces.note(tenant.id, "bald-weg@mieter.example", hard=True, reason="5.1.1 user unknown")
    db.session.commit()
    emit(tenant.id, "TICKET_CREATED", _ticket_payload(2, "bald-weg@mieter.example"))
    db.session.commit()
    jobs.expand_events(tenant.id)

    first, second = db.session.execute(db.select(Message).order_by(Message.id)).scalars().all()
    assert first.status == MessageStatus.PENDING
    assert second.status == MessageStatus.FAILED and "suppression list" in second.last_error


TRICKY = [
    "a@example.org",
    "A.B@Example.ORG",
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    "a@localhost",
    "a@x.test",
    "a@example",
    "a@-ex.org",
    "a@ex-.org",
    "a@123.456",
    "a@1.2.3.4",
    "a@exa_mple.org",
    "a+b%c@example.org",
    "a_b@EXAMPLE.org",
    "x" * 64 + "@example.org",
    "x" * 65 + "@example.org",
    "a@" + "b" * 63 + ".org",
    "a@" + "b" * 64 + ".org",
    "a@" + ("b" * 60 + ".") * 4 + "org",
    "a@xn--mnchen-3ya.de",
    "a@münchen.de",
    "ä@example.org",
    "a@example.org.",
    "a@.example.org",
    "a@ex..org",
    "a@example.invalid",
    "a@example.local",
    "a@example.onion",
    "a@[127.0.0.1]",
    "-a@example.org",
    "a-@example.org",
    "a@e.x",
    "a@example.c0m",
    "a@example.123",
    "%@example.org",
    "a@example.arpa",
    "a@ex ample.org",
    "a b@example.org",
    "a@b@example.org",
    "@example.org",
    "a@",
    "",
    'a"b@example.org',
    "a@EXAMPLE.Org",
    "a@sub.exa-mple.co.uk",
    "Ω@example.org",
    "a@ＥＸＡＭＰＬＥ.org",
]


@pytest.mark.parametrize("address", TRICKY)
def test_the_address_check_shortcut_answers_like_email_validator(address):
    try:
        expected = validate_email(address, check_deliverability=False, allow_smtputf8=True).normalized
    except EmailNotValidError:
        expected = None
    try:
        got = mime.check_address(address)
    except mime.HeaderError:
        got = None
    assert got == expected
