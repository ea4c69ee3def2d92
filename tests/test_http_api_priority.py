"""The HTTP API's "priority" (both forms) and "send_at" in the batch form (issue 13)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.extensions import db
from core.models import Event, Message
from core.models.message import Priority
from tests.test_http_api import TICKET, token  # noqa: F401  (fixture)

BATCH = "/api/v1/events/batch"


def _events():
    db.session.expire_all()
    return db.session.execute(db.select(Event).order_by(Event.id)).scalars().all()


def _auth(value):
    return {"Authorization": f"Bearer {value}"}


def test_priority_in_the_single_form_reaches_the_message(tenant, token, client, run_worker):
    response = client.post(
        "/api/v1/events",
        json={"event": "TICKET_CREATED", "payload": TICKET, "priority": "system"},
        headers=_auth(token),
    )
    assert response.status_code == 202, response.json
    (event,) = _events()
    assert event.priority == Priority.SYSTEM
    run_worker()
    assert {m.priority for m in db.session.execute(db.select(Message)).scalars()} == {Priority.SYSTEM}


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/events", {"event": "TICKET_CREATED", "payload": TICKET, "priority": "urgent"}),
        ("/api/v1/events", {"event": "TICKET_CREATED", "payload": TICKET, "priority": 2}),
        (BATCH, {"event": "TICKET_CREATED", "items": [{"payload": TICKET}], "priority": "high"}),
    ],
)
def test_an_unknown_priority_is_422_naming_the_field(tenant, token, client, path, body):
    response = client.post(path, json=body, headers=_auth(token))
    assert response.status_code == 422
    assert response.json["field"] == "priority" and "'system', 'transactional', 'bulk'" in response.json["error"]
    assert _events() == []


def test_the_batch_form_takes_send_at_and_priority_for_every_item(tenant, token, client):
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=3)
    second = dict(TICKET, ticket=dict(TICKET["ticket"], id=78))
    response = client.post(
        BATCH,
        json={
            "event": "TICKET_CREATED",
            "send_at": later.isoformat(),
            "priority": "bulk",
            "items": [{"payload": TICKET}, {"payload": second}],
        },
        headers=_auth(token),
    )
    assert response.status_code == 200, response.json
    assert [r["status"] for r in response.json["results"]] == ["accepted", "accepted"]
    events = _events()
    assert [(e.send_at, e.priority) for e in events] == [(later, Priority.BULK)] * 2


def test_a_bad_send_at_in_the_batch_form_is_422_and_writes_nothing(tenant, token, client):
    response = client.post(
        BATCH,
        json={"event": "TICKET_CREATED", "send_at": "tomorrow", "items": [{"payload": TICKET}]},
        headers=_auth(token),
    )
    assert response.status_code == 422 and response.json["field"] == "send_at"
    far = (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()
    response = client.post(
        BATCH, json={"event": "TICKET_CREATED", "send_at": far, "items": [{"payload": TICKET}]}, headers=_auth(token)
    )
    assert response.status_code == 422 and response.json["field"] == "send_at"
    assert _events() == []


def test_a_batch_retry_with_another_send_at_is_not_a_replay(tenant, token, client):
    later = (datetime.now(timezone.utc) + timedelta(hours=3)).isoformat()
    body = {"event": "TICKET_CREATED", "items": [{"payload": TICKET, "idempotency_key": "k1"}]}
    assert client.post(BATCH, json=body, headers=_auth(token)).json["results"][0]["status"] == "accepted"
    assert client.post(BATCH, json=body, headers=_auth(token)).json["results"][0]["status"] == "replayed"
    changed = client.post(BATCH, json=dict(body, send_at=later), headers=_auth(token)).json["results"][0]
    assert changed["status"] == "rejected" and changed["field"] == "items[0].idempotency_key"
