"""The events API: auth, validation, idempotency, tenant isolation, OpenAPI."""

from __future__ import annotations

import pytest

from core import api_tokens
from core.extensions import db
from core.models import ApiToken, Event, IdempotencyKey
from core.plugin_state import set_enabled
from tests.helpers import csrf_token, login, make_tenant

TICKET = {
    "ticket": {
        "id": 77,
        "title": "Aufzug steht",
        "description": "seit heute früh",
        "status": "open",
        "reporter": {"name": "Erika Mustermann", "email": "erika@example.org", "language": "en"},
        "assignee": None,
        "watchers": [],
    }
}


@pytest.fixture
def token(tenant):
    _, value = api_tokens.create(tenant.id, "ERP", actor="test")
    db.session.commit()
    return value


def _post(client, token, body, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/api/v1/events", json=body, headers=headers)


def _events():
    return db.session.execute(db.select(Event).order_by(Event.id)).scalars().all()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_emitted_event_is_delivered_with_its_placeholders(tenant, token, client, smtp_sink, run_worker):
    response = _post(client, token, {"event": "TICKET_CREATED", "payload": TICKET})
    assert response.status_code == 202, response.json
    (event,) = _events()
    assert response.json == {"event_id": event.id, "event": "TICKET_CREATED", "status": "accepted"}
    assert event.tenant_id == tenant.id and event.payload == TICKET
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["erika@example.org"]
    assert mail.message["Subject"] == "[#77] Your report: Aufzug steht"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer pw_wrong", "Basic abc", "Bearer not-ours"])
def test_missing_or_unknown_token_is_401(tenant, token, client, header):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/events", json={"event": "TICKET_CREATED", "payload": TICKET}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert _events() == []


def test_revoked_token_is_401_and_tokens_are_stored_hashed(tenant, token, client):
    row = db.session.execute(db.select(ApiToken)).scalar_one()
    assert row.token_hash == api_tokens.digest(token) and token not in (row.token_hash, row.prefix)
    api_tokens.revoke(tenant.id, row.id, actor="test")
    db.session.commit()
    assert _post(client, token, {"event": "TICKET_CREATED", "payload": TICKET}).status_code == 401


@pytest.mark.parametrize(
    "body, status, field, words",
    [
        ({"event": "TICKET_CREATD", "payload": {}}, 422, "event", "no installed plugin declares"),
        ({"payload": TICKET}, 422, "event", "'event' is required"),
        ({"event": "TICKET_CREATED"}, 422, "payload", "'payload' is required"),
        ({"event": "TICKET_CREATED", "payload": [1]}, 422, "payload", "JSON object"),
        ({"event": "TICKET_CREATED", "payload": TICKET, "extra": 1}, 422, "extra", "unknown field"),
        (
            {"event": "TICKET_CREATED", "payload": {"ticket": dict(TICKET["ticket"], id="77")}},
            422,
            "payload.ticket.id",
            "must be an integer, not str",
        ),
        (
            {"event": "TICKET_CREATED", "payload": {"ticket": dict(TICKET["ticket"], id=True)}},
            422,
            "payload.ticket.id",
            "must be an integer",
        ),
        (
            {
                "event": "TICKET_CREATED",
                "payload": {"ticket": {k: v for k, v in TICKET["ticket"].items() if k != "title"}},
            },
            422,
            "payload.ticket.title",
            "is required",
        ),
        (
            {"event": "TICKET_CREATED", "payload": {"ticket": dict(TICKET["ticket"], colour="red")}},
            422,
            "payload.ticket.colour",
            "no variable 'colour'",
        ),
        (
            {"event": "TICKET_CREATED", "payload": {"ticket": dict(TICKET["ticket"], reporter="erika")}},
            422,
            "payload.ticket.reporter",
            "must be an object",
        ),
        (
            {"event": "TICKET_CREATED", "payload": {"ticket": dict(TICKET["ticket"], watchers="a@example.org")}},
            422,
            "payload.ticket.watchers",
            "must be a list",
        ),
    ],
)
def test_validation_names_the_field(tenant, token, client, body, status, field, words):
    response = _post(client, token, body)
    assert response.status_code == status
    assert response.json["field"] == field and words in response.json["error"]
    assert _events() == []


def test_malformed_body_and_wrong_content_type(tenant, token, client):
    headers = {"Authorization": f"Bearer {token}"}
    bad = client.post("/api/v1/events", data="{nope", headers=headers, content_type="application/json")
    assert bad.status_code == 400 and "not valid JSON" in bad.json["error"]
    nan = client.post(
        "/api/v1/events",
        data='{"event": "TICKET_CREATED", "payload": NaN}',
        headers=headers,
        content_type="application/json",
    )
    assert nan.status_code == 400 and "NaN is not a JSON value" in nan.json["error"]
    deep = client.post("/api/v1/events", data="[" * 100_000, headers=headers, content_type="application/json")
    assert deep.status_code == 400
    form = client.post("/api/v1/events", data={"event": "x"}, headers=headers)
    assert form.status_code == 415


def test_disabled_plugin_is_409(tenant, token, client):
    set_enabled(tenant.id, "ticket", False)
    db.session.commit()
    response = _post(client, token, {"event": "TICKET_CREATED", "payload": TICKET})
    assert response.status_code == 409 and "disabled" in response.json["error"]


def test_idempotency_key_makes_a_retry_return_the_same_event(tenant, token, client, smtp_sink, run_worker):
    body = {"event": "TICKET_CREATED", "payload": TICKET}
    first = _post(client, token, body, **{"Idempotency-Key": "erp-4711"})
    again = _post(client, token, body, **{"Idempotency-Key": "erp-4711"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json["event_id"] == again.json["event_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(_events()) == 1
    other_body = _post(
        client,
        token,
        {"event": "TICKET_CREATED", "payload": {"ticket": dict(TICKET["ticket"], id=78)}},
        **{"Idempotency-Key": "erp-4711"},
    )
    assert other_body.status_code == 422 and other_body.json["field"] == "Idempotency-Key"
    run_worker()
    assert len(smtp_sink.wait_for(1)) == 1
    without_key = _post(client, token, body)
    assert without_key.status_code == 202 and len(_events()) == 2


def test_tokens_and_idempotency_keys_are_per_tenant(tenant, token, client, smtp_sink):
    other = make_tenant("globex", smtp_sink)
    _, other_token = api_tokens.create(other.id, "ERP", actor="test")
    db.session.commit()
    body = {"event": "TICKET_CREATED", "payload": TICKET}
    mine = _post(client, token, body, **{"Idempotency-Key": "same"})
    theirs = _post(client, other_token, body, **{"Idempotency-Key": "same"})
    assert mine.status_code == theirs.status_code == 202
    assert mine.json["event_id"] != theirs.json["event_id"]
    by_tenant = dict(db.session.execute(db.select(Event.id, Event.tenant_id)).all())
    assert by_tenant == {mine.json["event_id"]: tenant.id, theirs.json["event_id"]: other.id}
    keys = db.session.execute(db.select(IdempotencyKey.tenant_id, IdempotencyKey.event_id)).all()
    assert sorted(keys) == sorted([(tenant.id, mine.json["event_id"]), (other.id, theirs.json["event_id"])])


def test_openapi_describes_every_event(tenant, client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    variants = {v["title"]: v for v in doc["components"]["schemas"]["EventRequest"]["oneOf"]}
    assert set(variants) >= {
        "TICKET_CREATED",
        "TICKET_STATUS_CHANGED",
        "TICKET_COMMENTED",
        "NEW_INQUIRY",
        "CONTRACT_CREATED",
        "CONTRACT_SIGNED",
        "CONTRACT_TERMINATED",
    }
    ticket = variants["TICKET_CREATED"]["properties"]["payload"]["properties"]["ticket"]
    assert ticket["properties"]["id"]["type"] == ["integer", "null"]
    assert "reporter" in ticket["required"] and ticket["additionalProperties"] is False
    post = doc["paths"]["/events"]["post"]
    assert {"202", "401", "422"} <= set(post["responses"]) and doc["security"] == [{"bearer": []}]


def test_admin_creates_a_token_shown_once_and_revokes_it(tenant, client):
    login(client)
    page = client.get("/settings/admin/api-tokens/")
    created = client.post(
        "/settings/admin/api-tokens/",
        data={"csrf_token": csrf_token(page.get_data(as_text=True)), "name": "Hausverwaltungs-ERP"},
    )
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    import re

    value = re.search(r'id="new-token">(pw_[^<]+)<', html).group(1)
    assert _post(client, value, {"event": "TICKET_CREATED", "payload": TICKET}).status_code == 202
    listing = client.get("/settings/admin/api-tokens/").get_data(as_text=True)
    assert value not in listing and "Hausverwaltungs-ERP" in listing
    row = db.session.execute(db.select(ApiToken)).scalar_one()
    other = make_tenant("globex")
    _, foreign_value = api_tokens.create(other.id, "x", actor="test")
    db.session.commit()
    foreign = db.session.execute(db.select(ApiToken).where(ApiToken.tenant_id == other.id)).scalar_one()
    assert (
        client.post(
            f"/settings/admin/api-tokens/{foreign.id}/revoke", data={"csrf_token": csrf_token(listing)}
        ).status_code
        == 404
    )
    assert (
        client.post(f"/settings/admin/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_token(listing)}).status_code
        == 302
    )
    assert _post(client, value, {"event": "TICKET_CREATED", "payload": TICKET}).status_code == 401
    assert _post(client, foreign_value, {"event": "TICKET_CREATED", "payload": TICKET}).status_code == 202


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_concurrent_retries_with_one_key_emit_once(app, tenant, token):
    import threading

    body = {"event": "TICKET_CREATED", "payload": TICKET}
    barrier = threading.Barrier(6)
    results = []

    def call():
        client = app.test_client()
        barrier.wait()
        response = _post(client, token, body, **{"Idempotency-Key": "race"})
        results.append((response.status_code, response.json["event_id"]))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({event_id for _, event_id in results}) == 1
    assert sorted(code for code, _ in results) == [200] * 5 + [202]
    db.session.expire_all()
    assert len(_events()) == 1


def test_old_idempotency_keys_are_forgotten_but_events_stay(tenant, token, client):
    from datetime import timedelta

    from core.http_api import IDEMPOTENCY_DAYS, expire_idempotency_keys
    from core.models.types import utcnow

    body = {"event": "TICKET_CREATED", "payload": TICKET}
    assert _post(client, token, body, **{"Idempotency-Key": "k1"}).status_code == 202
    assert expire_idempotency_keys() == 0
    later = utcnow() + timedelta(days=IDEMPOTENCY_DAYS, seconds=1)
    assert expire_idempotency_keys(now=later) == 1
    db.session.commit()
    assert len(_events()) == 1
    assert _post(client, token, body, **{"Idempotency-Key": "k1"}).status_code == 202


def _ticket(number: int) -> dict:
    return {"ticket": dict(TICKET["ticket"], id=number, title=f"Aufzug {number}")}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_batch_reports_each_item_and_a_bad_one_keeps_no_other_out(tenant, token, client, smtp_sink, run_worker):
    bad = {"ticket": dict(TICKET["ticket"], id="not a number")}
    body = {
        "event": "TICKET_CREATED",
        "items": [
            {"payload": _ticket(1), "idempotency_key": "erp-1"},
            {"payload": bad, "idempotency_key": "erp-2"},
            {"payload": _ticket(3)},
            "not an item",
        ],
    }
    response = client.post("/api/v1/events/batch", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    results = response.json["results"]
    first, third = _events()
    assert results[0] == {"index": 0, "status": "accepted", "event_id": first.id, "event": "TICKET_CREATED"}
    assert results[1]["status"] == "rejected" and results[1]["field"] == "items[1].payload.ticket.id"
    assert results[2] == {"index": 2, "status": "accepted", "event_id": third.id, "event": "TICKET_CREATED"}
    assert results[3]["status"] == "rejected" and results[3]["field"] == "items[3]"
    assert (first.payload, third.payload) == (_ticket(1), _ticket(3))

    # The client retries: the keyed item is the first one's event, not a new one.
    again = client.post("/api/v1/events/batch", json=body, headers={"Authorization": f"Bearer {token}"}).json
    assert again["results"][0] == {"index": 0, "status": "replayed", "event_id": first.id, "event": "TICKET_CREATED"}
    assert [r["status"] for r in again["results"]] == ["replayed", "rejected", "accepted", "rejected"]
    # A key of the single form is the same key; another payload under it is refused.
    single = _post(client, token, {"event": "TICKET_CREATED", "payload": _ticket(1)}, **{"Idempotency-Key": "erp-1"})
    assert single.status_code == 200 and single.json["event_id"] == first.id
    other = client.post(
        "/api/v1/events/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={"event": "TICKET_CREATED", "items": [{"payload": _ticket(9), "idempotency_key": "erp-1"}]},
    ).json
    assert other["results"][0]["status"] == "rejected" and "different payload" in other["results"][0]["error"]
    assert len(_events()) == 3
    run_worker()
    assert sorted(m.message["Subject"] for m in smtp_sink.wait_for(3)) == [
        "[#1] Your report: Aufzug 1",
        "[#3] Your report: Aufzug 3",
        "[#3] Your report: Aufzug 3",
    ]


def test_emit_many_writes_the_good_payloads_and_returns_the_bad_ones(tenant, smtp_sink, run_worker):
    from core.events import EmittedEvent, PayloadError, emit_many

    results = emit_many(tenant.id, "TICKET_CREATED", [_ticket(1), ["not", "an", "object"], _ticket(2)])
    db.session.commit()
    assert isinstance(results[1], PayloadError)
    first, second = _events()
    assert results[0] == EmittedEvent(first.id, tenant.id, "TICKET_CREATED")
    assert results[2] == EmittedEvent(second.id, tenant.id, "TICKET_CREATED")
    assert [e.payload for e in (first, second)] == [_ticket(1), _ticket(2)]
    run_worker()  # woken after the commit, like emit()
    assert len(smtp_sink.wait_for(2)) == 2
