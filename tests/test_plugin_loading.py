"""A broken plugin is set aside with the reason, never the installation:
the web app, workers and every command start, the plugin is marked broken on
the plugins page and in `postwerk plugins list`, its events are refused, and
`postwerk plugins check` names each problem (exit 1)."""

from __future__ import annotations

import sys

import pluggy
import pytest
from click.testing import CliRunner

from core import api_tokens
from core.api import EventSpec, hookimpl
from core.app import create_app
from core.cli import main
from core.events import emit
from core.extensions import db
from core.hookspecs import deprecated
from core.plugins import PluginBrokenError, PluginError, registry
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import login, make_tenant

MINE = EventSpec("MINE_HAPPENED", "Mine")


class Duplicate:
    @hookimpl
    def postwerk_register_events(self):
        return [EventSpec("TICKET_CREATED", "again"), MINE]


class DecoratedTypo:
    @hookimpl
    def postwerk_register_events(self):
        return [MINE]

    @hookimpl
    def postwerk_template_variable(self, tenant, event, payload):  # missing "s"
        return {}


class UndecoratedTypo:
    @hookimpl
    def postwerk_register_events(self):
        return [MINE]

    def postwerk_template_variabels(self, tenant, event, payload):  # no @hookimpl, and misspelled
        return {}


class Undecorated:
    def postwerk_template_variables(self, tenant, event, payload):  # right name, no @hookimpl
        return {}


class RaisingRegistration:
    @hookimpl
    def postwerk_register_events(self):
        raise RuntimeError("no database yet")


class WrongArguments:
    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload, extra):
        return {}


CASES = {
    "duplicate": (Duplicate, "declares the event 'TICKET_CREATED', which the plugin 'ticket' declares too"),
    "typo": (DecoratedTypo, "postwerk_template_variable is not a Postwerk hook (misspelled?)"),
    "undecorated_typo": (
        UndecoratedTypo,
        "postwerk_template_variabels is not a Postwerk hook (misspelled?) and not marked @hookimpl",
    ),
    "undecorated": (Undecorated, "postwerk_template_variables is not marked @hookimpl"),
    "raising": (RaisingRegistration, "postwerk_register_events raised RuntimeError: no database yet"),
    "arguments": (WrongArguments, "{'extra'} are declared in the hookimpl but can not be found in the hookspec"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_broken_plugin_is_set_aside_with_the_reason_and_everything_else_starts(config, smtp_sink, case):
    cls, reason = CASES[case]
    app = create_app(config, extra_plugins={"bad": cls()})
    with app.app_context():
        reg = registry()
        assert reason in reg.plugins["bad"].broken
        assert "object at 0x" not in reg.plugins["bad"].broken  # named by its name, not its repr
        assert reg.event("TICKET_CREATED")[1] == "ticket"
        tenant = make_tenant("acme", smtp_sink)
        emit(tenant.id, "TICKET_CREATED", reg.event("TICKET_CREATED")[0].sample_payload())
        db.session.commit()
        client = app.test_client()
        login(client)
        page = client.get("/settings/admin/plugins/").get_data(as_text=True)
        assert 'id="plugin-bad"' in page and "broken" in page and "plugin-broken" in page
        if case in ("typo", "undecorated_typo", "duplicate"):  # its events are known, and refused
            with pytest.raises(PluginBrokenError, match="the plugin 'bad' is broken"):
                emit(tenant.id, "MINE_HAPPENED", {})
            _, token = api_tokens.create(tenant.id, "t", actor="test")
            db.session.commit()
            answer = client.post(
                "/api/v1/events",
                json={"event": "MINE_HAPPENED", "payload": {}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 409 and "the plugin 'bad' is broken" in answer.get_json()["error"]
        with pytest.raises(PluginError, match="broken and cannot be enabled"):
            from core.plugin_state import set_enabled

            set_enabled(tenant.id, "bad", True)
        db.engine.dispose()


def test_strict_mode_fails_fast_naming_the_plugin(config):
    with pytest.raises(PluginError, match="plugin 'bad' is broken: postwerk_register_events raised"):
        create_app(dict(config, STRICT_PLUGINS="1"), extra_plugins={"bad": RaisingRegistration()})


@pytest.fixture
def installed_broken_plugin(tmp_path, monkeypatch):
    """A distribution whose entry point names a module that does not import."""
    dist = tmp_path / "postwerk_broken-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: postwerk-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[postwerk.plugins]\nbroken = postwerk_broken_missing.plugin:Plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("postwerk_broken_missing", None)


@pytest.fixture
def cli(config, monkeypatch):
    monkeypatch.setenv("POSTWERK_DATABASE_URL", config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("POSTWERK_REDIS_URL", config["REDIS_URL"])
    monkeypatch.setenv("POSTWERK_QUEUE_PREFIX", config["QUEUE_PREFIX"])
    monkeypatch.setenv("POSTWERK_SECRET_KEY", "cli-test")
    monkeypatch.setenv("POSTWERK_ENCRYPTION_KEY", ENCRYPTION_KEY)
    monkeypatch.delenv("POSTWERK_STRICT_PLUGINS", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_a_plugin_that_cannot_import_is_listed_as_broken_and_commands_still_work(installed_broken_plugin, cli, app):
    result = cli(
        "tenants",
        "create",
        "acme",
        "Acme GmbH",
        "--admin-email",
        "a@acme.example",
        "--admin-password",
        "long enough password",
    )
    assert result.exit_code == 0, result.output
    listing = cli("plugins", "list", "--tenant", "acme")
    assert listing.exit_code == 0
    assert (
        "broken" in listing.output
        and "BROKEN: cannot be loaded (postwerk_broken_missing.plugin:Plugin): ModuleNotFoundError" in listing.output
    )
    assert cli("plugins", "enable", "acme", "ticket").exit_code == 0
    assert cli("plugins", "disable", "acme", "broken").exit_code == 0
    check = cli("plugins", "check")
    assert check.exit_code == 1
    assert "plugin 'broken': cannot be loaded" in check.output


def test_plugins_check_passes_when_every_plugin_loads(cli, app):
    check = cli("plugins", "check")
    assert check.exit_code == 0 and "no problems" in check.output


def test_plugins_check_fails_in_strict_mode_too(installed_broken_plugin, cli, app, monkeypatch):
    monkeypatch.setenv("POSTWERK_STRICT_PLUGINS", "1")
    runner = CliRunner()
    result = runner.invoke(main, ["plugins", "check"])
    assert result.exit_code != 0 and "plugin 'broken' is broken" in str(result.exception)


@pytest.mark.parametrize(
    "requires, broken",
    [
        (">=0.1", ""),
        (">=99", "it supports Postwerk >=99, and this is Postwerk "),
        ("soon", "requires_postwerk 'soon' is not a version specifier"),
    ],
)
def test_a_plugin_declares_the_postwerk_versions_it_supports(config, requires, broken):
    from core.api import Plugin

    class Versioned(Plugin):
        requires_postwerk = requires

        @hookimpl
        def postwerk_register_events(self):
            return [MINE]

    app = create_app(config, extra_plugins={"versioned": Versioned})
    with app.app_context():
        reg = registry()
        assert reg.plugins["versioned"].broken.startswith(broken) if broken else not reg.plugins["versioned"].broken
        assert ("MINE_HAPPENED" in reg.events) == (not broken)
        db.engine.dispose()


@pytest.mark.parametrize(
    "requires, broken",
    [
        (">=1.0,<2", ""),
        (">=2.0", "it needs the hook API >=2.0, and this is hook API 1.0"),
        ("two", "requires_hook_api 'two' is not a version specifier"),
    ],
)
def test_a_plugin_declares_the_hook_api_it_was_written_for(config, requires, broken):
    from core.api import HOOK_API_VERSION, Plugin

    assert HOOK_API_VERSION == "1.0"

    class Versioned(Plugin):
        requires_hook_api = requires

        @hookimpl
        def postwerk_register_events(self):
            return [MINE]

    app = create_app(config, extra_plugins={"versioned": Versioned})
    with app.app_context():
        reg = registry()
        assert reg.plugins["versioned"].broken.startswith(broken) if broken else not reg.plugins["versioned"].broken
        assert ("MINE_HAPPENED" in reg.events) == (not broken)
        db.engine.dispose()


# A deprecated hook, as core/hookspecs.py would declare one before removing it.
@pluggy.HookspecMarker("postwerk")(warn_on_impl=deprecated("postwerk_old_menu", "1.0", "postwerk_admin_menu"))
def postwerk_old_menu() -> list:
    """The admin menu, the old way."""


OLD_PLUGIN = '''\
from core.api import hookimpl


class OldPlugin:
    """Still implements a deprecated hook."""

    @hookimpl
    def postwerk_old_menu(self):
        return []
'''


@pytest.fixture
def deprecated_hook(monkeypatch, tmp_path):
    """The deprecated spec among the hookspecs, and an installed plugin implementing it."""
    from core import hookspecs

    monkeypatch.setattr(hookspecs, "postwerk_old_menu", postwerk_old_menu, raising=False)
    dist = tmp_path / "postwerk_oldie-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: postwerk-oldie\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[postwerk.plugins]\noldie = postwerk_oldie:OldPlugin\n")
    (tmp_path / "postwerk_oldie.py").write_text(OLD_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("postwerk_oldie", None)


def test_a_deprecated_hook_warns_through_warn_on_impl_and_the_plugin_keeps_working(deprecated_hook, cli, app, client):
    reg = app.extensions["postwerk.plugins"]
    info = reg.plugins["oldie"]
    assert not info.broken
    assert info.warnings == [
        "DeprecationWarning: postwerk_old_menu is deprecated since hook API 1.0 and will be "
        "removed in the next major version; implement postwerk_admin_menu instead"
    ]
    listing = cli("plugins", "list")
    assert "warning: DeprecationWarning: postwerk_old_menu is deprecated" in listing.output
    check = cli("plugins", "check")
    assert check.exit_code == 0, check.output
    assert "plugin 'oldie': warning: DeprecationWarning: postwerk_old_menu is deprecated" in check.output
    assert "1 with warnings (hook API 1.0)" in check.output
    assert cli("plugins", "check", "--strict").exit_code == 1
    # The plugins page shows it next to the plugin.
    with app.app_context():
        make_tenant("acme")
        login(client, "acme")
        page = client.get("/settings/admin/plugins/").get_data(as_text=True)
        assert "postwerk_old_menu is deprecated since hook API 1.0" in page
        db.engine.dispose()
