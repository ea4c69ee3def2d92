"""What plugins and other systems hand over is checked where it enters:
recipient addresses from plugins, null placeholders, nested payload values."""

from __future__ import annotations

import pytest

from core import api_tokens
from core.api import EventSpec, Recipient, Role, Variable, hookimpl
from core.app import create_app
from core.events import emit
from core.extensions import db
from core.mail import rendering
from core.models import Event, Notification, Rule, Template
from core.payloads import PayloadInvalid, json_schema, validate
from tests.helpers import drain, make_tenant

SHIFT = EventSpec(
    "SHIFT_PLANNED",
    "Shift planned",
    variables=(
        Variable("shift.name", "name", "Früh"),
        Variable("shift.lead.name", "who leads", "Erika"),
        Variable("shift.crew", "who works", [{"name": "Max", "hours": 8}]),
        Variable("shift.tags", "tags", ["night"]),
    ),
    roles=(Role("crew", "everyone on the shift"),),
)


class ShiftPlugin:
    addresses: list = []

    @hookimpl
    def postwerk_register_events(self):
        return [SHIFT]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {"shift": payload["shift"]} if event == "SHIFT_PLANNED" else None

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        return [Recipient(a) for a in ShiftPlugin.addresses] if role == "crew" else None


@pytest.fixture
def shift_app(config):
    app = create_app(config, extra_plugins={"shift": ShiftPlugin()})
    with app.app_context():
        yield app
        db.engine.dispose()


def _payload(**shift):
    return {"shift": dict({"name": "Früh", "lead": {"name": "Erika"}, "crew": [], "tags": []}, **shift)}


def test_bad_addresses_from_a_plugin_are_skipped_with_a_notification_naming_it(shift_app, smtp_sink):
    tenant = make_tenant("acme", smtp_sink, plugins=("shift",))
    for language in ("de", "en"):
        db.session.add(
            Template(
                tenant_id=tenant.id,
                key="shift",
                language=language,
                subject="Schicht {{ shift.name }}",
                body_html="<p>{{ shift.name }}</p>",
                body_text="",
            )
        )
    db.session.add(
        Rule(
            tenant_id=tenant.id,
            name="crew",
            event="SHIFT_PLANNED",
            recipient="role:crew",
            template_key="shift",
            active=True,
        )
    )
    db.session.commit()
    ShiftPlugin.addresses = ["max@example.org", "not an address", "a@example.org, b@example.org"]
    event = emit(tenant.id, "SHIFT_PLANNED", _payload())
    db.session.commit()
    drain(shift_app)
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["max@example.org"]]
    assert db.session.get(Event, event.id).status == "EXPANDED"
    texts = [n.text for n in db.session.execute(db.select(Notification)).scalars()]
    assert any("plugin 'shift' returned a recipient that was skipped" in t and "'not an address'" in t for t in texts)
    assert any("'a@example.org, b@example.org'" in t for t in texts)


def test_null_placeholders_render_empty_also_under_a_null_object():
    values = {"shift": {"name": None, "lead": None}}
    assert rendering.render("Schicht {{ shift.name }}|{{ shift.lead.name }}|", values) == "Schicht ||"
    with pytest.raises(rendering.TemplateError):
        rendering.render("{{ shift.missing.name }}", values)  # a missing name still fails


def test_the_http_api_checks_the_items_of_list_placeholders():
    validate(SHIFT, _payload(crew=[{"name": "Max", "hours": 8}], tags=["a"]))
    validate(SHIFT, _payload(lead=None))  # null where an object is declared: its placeholders are empty
    cases = [
        (_payload(tags=[1]), "payload.shift.tags[0]", "must be a string, not int"),
        (_payload(crew=["Max"]), "payload.shift.crew[0]", "must be an object, not str"),
        (_payload(crew=[{"name": "Max", "hours": "8"}]), "payload.shift.crew[0].hours", "must be an integer"),
        (_payload(crew=[{"name": "Max"}]), "payload.shift.crew[0].hours", "is required"),
        (_payload(crew=[{"name": "Max", "hours": 8, "x": 1}]), "payload.shift.crew[0].x", "no variable"),
        (_payload(crew=[None]), "payload.shift.crew[0]", "must not be null"),
        (_payload(lead="Erika"), "payload.shift.lead", "must be an object"),
    ]
    for payload, field, words in cases:
        with pytest.raises(PayloadInvalid) as caught:
            validate(SHIFT, payload)
        assert caught.value.field == field and words in caught.value.message
    schema = json_schema(SHIFT)["properties"]["shift"]["properties"]
    assert schema["tags"]["items"] == {"type": "string"}
    assert schema["crew"]["items"]["required"] == ["hours", "name"]


def test_the_http_api_answers_422_for_a_bad_list_item(shift_app):
    tenant = make_tenant("acme", plugins=("shift",))
    _, token = api_tokens.create(tenant.id, "t", actor="test")
    db.session.commit()
    answer = shift_app.test_client().post(
        "/api/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={"event": "SHIFT_PLANNED", "payload": _payload(tags=[{"x": 1}])},
    )
    assert answer.status_code == 422 and answer.get_json()["field"] == "payload.shift.tags[0]"
