"""The pytest plugin shipped for plugin authors (core/testing.py, entry
point pytest11): used here exactly as a plugin's own tests use it."""

from __future__ import annotations

import pytest

from core.api import EventSpec, Plugin, Recipient, Role, RuleSpec, TemplateSpec, Variable, branded_html, hookimpl

BOOKED = EventSpec(
    "KIT_BOOKED",
    "Booked",
    variables=(Variable("space.number", "number", "P 12"), Variable("space.email", "who", "erika@example.org")),
    roles=(Role("booker", "who booked"),),
)


class KitPlugin(Plugin):
    """A plugin under test."""

    @hookimpl
    def postwerk_register_events(self):
        return [BOOKED]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {"space": payload["space"]} if event == "KIT_BOOKED" else None

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        return [Recipient(payload["space"]["email"], language="en")] if role == "booker" else None

    @hookimpl
    def postwerk_default_templates(self):
        return [
            TemplateSpec(
                "kit_booked",
                "de",
                "Platz {{ space.number }} gehört Ihnen",
                branded_html("<p>Platz {{ space.number }}</p>"),
            ),
            TemplateSpec(
                "kit_booked", "en", "Space {{ space.number }} is yours", branded_html("<p>Space {{ space.number }}</p>")
            ),
        ]

    @hookimpl
    def postwerk_default_rules(self):
        return [RuleSpec("KIT_BOOKED", "role:booker", "kit_booked", "Confirm")]


@pytest.fixture
def postwerk_plugins():
    return {"kit": KitPlugin}


def test_render_uses_the_sample_payload_and_the_language(postwerk):
    assert postwerk.render("KIT_BOOKED", language="en").subject == "Space P 12 is yours"
    mail = postwerk.render("KIT_BOOKED", {"space": {"number": "P 3", "email": "x@example.org"}}, "de")
    assert mail.subject == "Platz P 3 gehört Ihnen" and "Platz P 3" in mail.html and "P 3" in mail.text


def test_emit_and_deliver_runs_a_real_worker_into_the_outbox(postwerk):
    [sent] = postwerk.emit_and_deliver("KIT_BOOKED", {"space": {"number": "P 7", "email": "jane@example.org"}})
    assert sent.rcpt_tos == ["jane@example.org"] and str(sent.message["Subject"]) == "Space P 7 is yours"
    assert len(postwerk.outbox) == 1


def test_the_admin_client_is_logged_in_and_csrf_is_handled(postwerk):
    page = postwerk.client.get("/settings/admin/plugins/")
    assert page.status_code == 200 and 'id="plugin-kit" data-enabled="yes"' in page.get_data(as_text=True)
    assert postwerk.client.post("/settings/admin/plugins/kit/disable").status_code == 302
    assert 'id="plugin-kit" data-enabled="no"' in postwerk.client.get("/settings/admin/plugins/").get_data(as_text=True)
