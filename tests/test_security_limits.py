"""Size limits on everything that enters (issue 16, item 3)."""

from __future__ import annotations

import io

from core import api_tokens
from core.extensions import db
from core.models import Event, EventStatus, Message, Rule
from tests.test_http_api import TICKET

API = "/api/v1/events"


class Endless(io.RawIOBase):
    """A request body that never ends and counts what was read of it."""

    def __init__(self, size: int):
        self.left, self.read_bytes = size, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = b" " * n
        self.left -= n
        self.read_bytes += n
        return n


def _token(tenant_id: int) -> str:
    _, value = api_tokens.create(tenant_id, "ERP", actor="test")
    db.session.commit()
    return value


def test_a_body_over_max_content_length_is_413_before_parsing(tenant, client):
    assert client.application.config["MAX_CONTENT_LENGTH"] == 4 * 1024 * 1024
    body = b"a=" + b"x" * (5 * 1024 * 1024)
    response = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    many = "&".join(f"f{i}=1" for i in range(5000))
    response = client.post("/login", data=many, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


def test_a_chunked_api_body_is_cut_off_while_reading(tenant, client):
    token = _token(tenant.id)
    stream = Endless(32 * 1024 * 1024)
    response = client.post(
        API,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True},
    )
    # Attachments (issue 13) let the body grow to the application's limit, never further.
    assert response.status_code == 413 and "4096 kB" in response.json["error"], response.get_data()[:300]
    assert stream.read_bytes <= 4 * 1024 * 1024 + 64 * 1024  # never the whole 32 MiB
    assert db.session.execute(db.select(Event)).first() is None


def test_the_api_is_rate_limited_per_token(tenant, client, app):
    app.config["API_RATE_LIMIT"] = 2
    first, second = _token(tenant.id), _token(tenant.id)
    body = {"event": "TICKET_CREATED", "payload": TICKET}
    for _ in range(2):
        assert client.post(API, json=body, headers={"Authorization": f"Bearer {first}"}).status_code == 202
    refused = client.post(API, json=body, headers={"Authorization": f"Bearer {first}"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    # Another token is not affected.
    assert client.post(API, json=body, headers={"Authorization": f"Bearer {second}"}).status_code == 202


def test_an_event_over_the_recipient_cap_fails_with_the_reason_and_makes_no_mail(tenant, app, run_worker):
    from core.events import emit

    app.config["MAX_RECIPIENTS_PER_EVENT"] = 5
    addresses = ",".join(f"w{i}@example.org" for i in range(10))
    db.session.add(
        Rule(
            tenant_id=tenant.id,
            name="many",
            event="TICKET_CREATED",
            recipient=f"address:{addresses}",
            template_key="ticket_created",
            active=True,
        )
    )
    db.session.commit()
    event = emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert event.status == EventStatus.FAILED
    assert "more than the 5 one event may have" in event.error and "POSTWERK_MAX_RECIPIENTS_PER_EVENT" in event.error
    assert db.session.execute(db.select(Message)).first() is None


def test_a_payload_naming_more_addresses_than_the_cap_is_422(tenant, client, app):
    app.config["MAX_RECIPIENTS_PER_EVENT"] = 5
    token = _token(tenant.id)
    payload = {"ticket": {**TICKET["ticket"], "watchers": [f"w{i}@example.org" for i in range(5)]}}
    response = client.post(
        API, json={"event": "TICKET_CREATED", "payload": payload}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422  # 5 watchers + the reporter: 6
    assert "POSTWERK_MAX_RECIPIENTS_PER_EVENT" in response.json["error"] and response.json["field"] == "payload"
    payload["ticket"]["watchers"] = payload["ticket"]["watchers"][:4]
    assert (
        client.post(
            API, json={"event": "TICKET_CREATED", "payload": payload}, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 202
    )


def test_the_batch_endpoint_cuts_off_a_chunked_body_and_is_rate_limited_too(tenant, client, app):
    """The batch form (issue 15) reads its body and counts its token like the
    single one: a chunked body is cut off while read, and the limit holds."""
    token = _token(tenant.id)
    stream = Endless(64 * 1024 * 1024)
    response = client.post(
        API + "/batch",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True},
    )
    assert response.status_code == 413 and "4096 kB" in response.json["error"], response.get_data()[:300]
    assert stream.read_bytes <= 4 * 1024 * 1024 + 64 * 1024  # never the whole 64 MiB
    app.config["API_RATE_LIMIT"] = 2
    other = _token(tenant.id)
    body = {"event": "TICKET_CREATED", "items": [{"payload": TICKET}]}
    for _ in range(2):
        assert client.post(API + "/batch", json=body, headers={"Authorization": f"Bearer {other}"}).status_code < 300
    refused = client.post(API + "/batch", json=body, headers={"Authorization": f"Bearer {other}"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
