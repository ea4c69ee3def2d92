"""The plugin manager: loading, start-up checks, per-tenant dispatch."""

from __future__ import annotations

import pytest

from core.api import EventSpec, Recipient, Role, Variable, hookimpl
from core.app import create_app
from core.extensions import db
from core.mail import variables
from core.plugin_state import set_enabled
from core.plugins import PluginError, registry
from core.recipients import resolve
from core.tenancy import tenant_ref
from tests.helpers import make_tenant

PING = EventSpec("PING", "Ping", variables=(Variable("ping.n", "a number", 1),), roles=(Role("pinger", "who"),))


class PingPlugin:
    """Test plugin: one event, one role, one namespace."""

    @hookimpl
    def postwerk_register_events(self):
        return [PING]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {"ping": payload} if event == "PING" else None

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        return [Recipient("pinger@example.org", language="en")] if role == "pinger" else None


class CaretakerPlugin:
    """Adds a role to another plugin's event."""

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        return [Recipient("hausmeister@example.org")] if role == "caretaker" else None


def test_installed_plugins_are_loaded_from_the_entry_point_group(ctx):
    plugins = registry().plugins
    assert plugins["ticket"].source == "entry point" and plugins["ticket"].version
    assert plugins["core"].essential
    assert registry().event("TICKET_CREATED")[1] == "ticket"


def test_a_misspelled_hook_fails_at_start_up_in_strict_mode(config):
    class Typo:
        @hookimpl
        def postwerk_register_event(self):  # missing "s"
            return []

    with pytest.raises(PluginError, match="plugin 'typo' is broken: postwerk_register_event is not"):
        create_app(dict(config, STRICT_PLUGINS="1"), extra_plugins={"typo": Typo()})


def test_two_plugins_declaring_one_event_fail_at_start_up_in_strict_mode(config):
    class Copy:
        @hookimpl
        def postwerk_register_events(self):
            return [EventSpec("TICKET_CREATED", "again")]

    with pytest.raises(
        PluginError,
        match="plugin 'copy' is broken: declares the event 'TICKET_CREATED', which the plugin 'ticket' declares too",
    ):
        create_app(dict(config, STRICT_PLUGINS="1"), extra_plugins={"copy": Copy()})


def test_hooks_reach_only_plugins_enabled_for_the_tenant(config):
    app = create_app(config, extra_plugins={"ping": PingPlugin(), "caretaker": CaretakerPlugin()})
    with app.app_context():
        acme = make_tenant("acme", plugins=("ping",))
        other = make_tenant("other", plugins=())
        ref = tenant_ref(acme)
        assert resolve(ref, "PING", "role:pinger", {})[0].language == "en"
        assert resolve(ref, "PING", "role:caretaker", {}) == []
        set_enabled(acme.id, "caretaker", True)
        db.session.commit()
        assert [r.address for r in resolve(ref, "PING", "role:caretaker", {})] == ["hausmeister@example.org"]
        assert resolve(tenant_ref(other), "PING", "role:pinger", {}) == []
        assert variables.collect(ref, "PING", {"n": 3})["ping"] == {"n": 3}
        assert "ping" not in variables.collect(tenant_ref(other), "PING", {"n": 3})


def test_two_plugins_claiming_one_placeholder_namespace_is_an_error(config):
    class Thief:
        @hookimpl
        def postwerk_template_variables(self, tenant, event, payload):
            return {"ping": {}}

    app = create_app(config, extra_plugins={"ping": PingPlugin(), "thief": Thief()})
    with app.app_context():
        tenant = make_tenant("acme", plugins=("ping", "thief"))
        with pytest.raises(variables.VariableConflictError, match="'ping' and 'thief'"):
            variables.collect(tenant_ref(tenant), "PING", {})


def test_enabling_copies_default_templates_without_overwriting_edits(ctx):
    from core.models import Rule, Template

    tenant = make_tenant("acme", plugins=(), activate_rules=False)
    set_enabled(tenant.id, "ticket", True)
    db.session.commit()
    templates = (
        db.session.execute(db.select(Template).where(Template.tenant_id == tenant.id).order_by(Template.id))
        .scalars()
        .all()
    )
    assert {("ticket_created", "de"), ("ticket_created", "en")} <= {(t.key, t.language) for t in templates}
    rules = db.session.execute(db.select(Rule)).scalars().all()
    assert rules and not any(r.active for r in rules)  # default rules never send before an admin says so
    templates[0].subject = "Mein eigener Betreff"
    db.session.commit()
    set_enabled(tenant.id, "ticket", False)
    set_enabled(tenant.id, "ticket", True)
    db.session.commit()
    assert db.session.get(Template, templates[0].id).subject == "Mein eigener Betreff"
    assert db.session.execute(db.select(db.func.count()).select_from(Rule)).scalar() == len(rules)
