"""The `postwerk` command line against a migrated database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.cli import main
from core.extensions import db
from core.models import Event, PluginState
from tests.conftest import ENCRYPTION_KEY


@pytest.fixture
def cli(config, monkeypatch):
    monkeypatch.setenv("POSTWERK_DATABASE_URL", config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("POSTWERK_REDIS_URL", config["REDIS_URL"])
    monkeypatch.setenv("POSTWERK_QUEUE_PREFIX", config["QUEUE_PREFIX"])
    monkeypatch.setenv("POSTWERK_SECRET_KEY", "cli-test")
    monkeypatch.setenv("POSTWERK_ENCRYPTION_KEY", ENCRYPTION_KEY)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args), catch_exceptions=False)


def test_tenant_plugins_and_events_from_the_command_line(cli, app):
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
    assert "disabled" in cli("plugins", "list", "--tenant", "acme").output
    assert cli("plugins", "enable", "acme", "ticket").exit_code == 0
    listing = cli("plugins", "list", "--tenant", "acme").output
    assert "ticket" in listing and "enabled" in listing and "TICKET_CREATED" in listing

    payload = json.dumps(
        {
            "ticket": {
                "id": 1,
                "title": "t",
                "description": "",
                "status": "open",
                "reporter": {"name": "E", "email": "e@example.org", "language": "de"},
            }
        }
    )
    result = cli("events", "emit", "acme", "TICKET_CREATED", "--payload", payload)
    assert result.exit_code == 0 and "recorded" in result.output

    assert cli("plugins", "disable", "acme", "ticket").exit_code == 0
    refused = cli("events", "emit", "acme", "TICKET_CREATED", "--payload", payload)
    assert refused.exit_code == 1 and "disabled" in refused.output
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(Event)).scalar() == 1
        assert db.session.execute(db.select(PluginState.enabled)).scalar_one() is False


@pytest.mark.parametrize(
    "args,message",
    [
        (("events", "emit", "acme", "NO_SUCH_EVENT"), "no installed plugin declares the event"),
        (("events", "emit", "acme", "TICKET_CREATED", "--payload", "{not json"), "not JSON"),
        (("events", "emit", "acme", "TICKET_CREATED", "--payload", "[1, 2]"), "must be a JSON object"),
        (("events", "emit", "nobody", "TICKET_CREATED"), "no tenant 'nobody'"),
        (("plugins", "enable", "acme", "nope"), "no plugin named 'nope'"),
        (("plugins", "disable", "acme", "core"), "essential"),
    ],
)
def test_bad_input_is_a_clear_error(cli, args, message):
    cli(
        "tenants",
        "create",
        "acme",
        "Acme GmbH",
        "--admin-email",
        "a@acme.example",
        "--admin-password",
        "long enough password",
    )
    cli("plugins", "enable", "acme", "ticket")
    result = cli(*args)
    assert result.exit_code != 0
    assert message in result.output


def test_db_upgrade_is_idempotent(cli):
    assert cli("db", "upgrade").exit_code == 0
