"""Hooks are called the pluggy way, plugin by plugin: a hookimpl may take a
subset of the spec's arguments, wrappers wrap each call, and
``add_hookcall_monitoring`` sees every call."""

from __future__ import annotations

import pytest

from core.api import hookimpl
from core.app import create_app
from core.extensions import db
from core.mail import variables
from core.plugins import registry
from core.tenancy import tenant_ref
from tests.helpers import make_tenant


class Subset:
    """Takes only the argument it needs, as pluggy allows."""

    @hookimpl
    def postwerk_template_variables(self, event):
        return {"subset": {"event": event}}


class Wrapper:
    """Wraps every plugin's variables call and marks the answers."""

    seen: list = []

    @hookimpl(wrapper=True)
    def postwerk_template_variables(self, tenant, event, payload):
        answers = yield
        Wrapper.seen.extend(answers)
        return [{k: dict(v, wrapped=True) if k == "subset" else v for k, v in a.items()} for a in answers]


@pytest.fixture
def calls_app(config):
    Wrapper.seen = []
    app = create_app(config, extra_plugins={"subset": Subset(), "wrapper": Wrapper()})
    with app.app_context():
        yield app
        db.engine.dispose()


def test_a_hookimpl_taking_a_subset_of_the_arguments_is_called(calls_app):
    tenant = make_tenant("acme", plugins=("subset",))
    values = variables.collect(tenant_ref(tenant), "PING", {"n": 1})
    assert values["subset"] == {"event": "PING"}


def test_wrappers_wrap_each_plugin_and_only_for_tenants_that_enabled_them(calls_app):
    tenant = make_tenant("acme", plugins=("subset", "wrapper"))
    values = variables.collect(tenant_ref(tenant), "PING", {})
    assert values["subset"] == {"event": "PING", "wrapped": True}
    assert {"subset": {"event": "PING"}} in Wrapper.seen
    other = make_tenant("other", plugins=("subset",))
    Wrapper.seen = []
    assert variables.collect(tenant_ref(other), "PING", {})["subset"] == {"event": "PING"}
    assert Wrapper.seen == []


def test_hookcall_monitoring_sees_each_plugin_call(calls_app):
    tenant = make_tenant("acme", plugins=("subset",))
    seen = []
    undo = registry().pm.add_hookcall_monitoring(
        before=lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls])),
        after=lambda outcome, name, impls, kwargs: None,
    )
    try:
        variables.collect(tenant_ref(tenant), "PING", {})
    finally:
        undo()
    assert ("postwerk_template_variables", ["subset"]) in seen
