"""A third-party plugin, written with core.api only, is a first-class citizen:
listed on the plugins page, enabled per tenant without restart, its events
accepted by the HTTP API and mailed through its own recipient hook."""

from __future__ import annotations

import pytest

from core import api_tokens
from core.api import EventSpec, Plugin, Recipient, Role, RuleSpec, TemplateSpec, Variable, branded_html, hookimpl
from core.app import create_app
from core.extensions import db
from core.models import Rule
from tests.helpers import by_recipient, csrf_token, drain, login, make_tenant

PARKING_BOOKED = EventSpec(
    key="PARKING_BOOKED",
    label="Parking space booked",
    variables=(
        Variable("stellplatz.number", "number of the space", "P 12"),
        Variable("stellplatz.email", "who booked it", "erika@example.org"),
    ),
    roles=(Role("booker", "who booked"),),
)


class ParkingPlugin(Plugin):
    """Parking spaces for rent."""

    version = "2.3.4"

    @hookimpl
    def postwerk_register_events(self):
        return [PARKING_BOOKED]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {"stellplatz": payload["stellplatz"]} if event == "PARKING_BOOKED" else None

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        if event != "PARKING_BOOKED" or role != "booker":
            return None
        return [Recipient(address=payload["stellplatz"]["email"], language="en")]

    @hookimpl
    def postwerk_default_templates(self):
        return [
            TemplateSpec(
                "parking_booked",
                lang,
                "Space {{ stellplatz.number }} is yours",
                branded_html("<p>Space {{ stellplatz.number }}.</p>"),
            )
            for lang in ("de", "en")
        ]

    @hookimpl
    def postwerk_default_rules(self):
        return [RuleSpec("PARKING_BOOKED", "role:booker", "parking_booked", "Confirm a booking")]


@pytest.fixture
def parking_app(config):
    app = create_app(config, extra_plugins={"parking": ParkingPlugin})
    with app.app_context():
        yield app
        db.engine.dispose()


def test_third_party_plugin_is_listed_enabled_and_mails(parking_app, smtp_sink):
    tenant = make_tenant("acme", smtp_sink)
    client = parking_app.test_client()
    login(client)
    page = client.get("/settings/admin/plugins/").get_data(as_text=True)
    assert 'id="plugin-parking" data-enabled="no"' in page and "2.3.4" in page and "Parking spaces for rent." in page
    assert "{{ stellplatz.number }}" in page
    _, token = api_tokens.create(tenant.id, "garage", actor="test")
    db.session.commit()
    body = {"event": "PARKING_BOOKED", "payload": {"stellplatz": {"number": "P 7", "email": "jane@example.org"}}}
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/events", json=body, headers=headers).status_code == 409
    assert (
        client.post("/settings/admin/plugins/parking/enable", data={"csrf_token": csrf_token(page)}).status_code == 302
    )
    db.session.execute(db.update(Rule).where(Rule.event == "PARKING_BOOKED").values(active=True))
    db.session.commit()
    assert client.post("/api/v1/events", json=body, headers=headers).status_code == 202
    drain(parking_app)
    mails = by_recipient(smtp_sink.wait_for(1))
    assert mails["jane@example.org"][0] == "Space P 7 is yours"
