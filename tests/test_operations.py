"""What an operator relies on: logging, /healthz, /readyz, /metrics, life
behind a reverse proxy, and the Flask-style command line."""

from __future__ import annotations

import io
import json
import logging

import pytest
from click.testing import CliRunner
from flask import url_for

from core import logs
from core.api import client_address
from core.app import create_app
from core.automate.scheduler import Scheduler
from core.cli import main
from core.config import ConfigError, finalise
from core.crypto import encrypt
from core.events import emit
from core.extensions import db
from core.models import MessageStatus
from core.worker import make_worker
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import TICKET, make_tenant, point_at
from tests.sending_helpers import deliver, queue_message
from tests.support.certs import make_certs
from tests.support.smtp_sink import SmtpSink


@pytest.fixture
def log_output():
    stream = io.StringIO()
    logs.configure("DEBUG", "json", role="test", stream=stream)
    yield stream
    logs.reset()
    logging.getLogger().setLevel(logging.WARNING)


def _lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# --- logging -------------------------------------------------------------------


def test_log_lines_carry_process_tenant_and_job_and_info_is_kept(tenant, run_worker, log_output):
    emit(tenant.slug, "TICKET_CREATED", TICKET)
    db.session.commit()
    logging.getLogger("core.test").info("an INFO line")
    run_worker()
    lines = _lines(log_output)
    assert any(line["message"] == "an INFO line" and line["level"] == "INFO" for line in lines)
    job_lines = [line for line in lines if line.get("job")]
    assert job_lines, lines
    assert all(line["tenant"] == tenant.id and line["process"] == "test" and line["pid"] for line in job_lines)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def test_no_secret_is_ever_logged(app, ctx, certs, log_output):
    """A refused password, a stored OAuth client secret and the keys of the
    installation: none of them reaches a log line, even at DEBUG."""
    password, client_secret = "Wrong-Passw0rd-4711", "client-Secret-0815"
    tenant = make_tenant("acme")
    sink = SmtpSink(auth={"user": "the-right-one"}, starttls_context=certs.server_context("ca_signed"))
    with sink:
        point_at(
            tenant.id,
            sink,
            host="localhost",
            security="starttls",
            auth="password",
            username="user",
            password_encrypted=encrypt(password),
            trusted_ca_pem=certs.ca_cert.read_text(),
            oauth_client_secret_encrypted=encrypt(client_secret),
        )
        message = queue_message(tenant.id)
        deliver(tenant.id)
        assert message.status == MessageStatus.PENDING and message.last_error  # held: the login was refused
    log = logging.getLogger("core.test")
    # The second line of defence: a secret that the code did format into a
    # line, or that an exception carries, is scrubbed.
    log.warning("connecting with %s", password)
    try:
        raise RuntimeError(f"server said: bad password {password}")
    except RuntimeError:
        log.exception("failed")
    written = log_output.getvalue()
    assert written and "connecting with [redacted]" in written
    for secret in (password, client_secret, app.config["SECRET_KEY"], ENCRYPTION_KEY):
        assert secret not in written


def test_log_settings_are_checked_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="POSTWERK_LOG_LEVEL"):
        finalise({"TESTING": True, "LOG_LEVEL": "LOUD"}, str(tmp_path))
    with pytest.raises(ConfigError, match="POSTWERK_LOG_FORMAT"):
        finalise({"TESTING": True, "LOG_FORMAT": "xml"}, str(tmp_path))


def test_the_mail_catchers_connection_chatter_shows_only_at_debug():
    """aiosmtpd (the mail catcher of `postwerk serve`) logs three INFO lines
    per connection; at the default level they would bury Postwerk's own."""
    import io
    import logging

    try:
        logs.configure("INFO", "text", role="test", stream=io.StringIO())
        assert not logging.getLogger("mail.log").isEnabledFor(logging.INFO)
        assert logging.getLogger("mail.log").isEnabledFor(logging.WARNING)
        logs.configure("DEBUG", "text", role="test")
        assert logging.getLogger("mail.log").isEnabledFor(logging.INFO)
    finally:
        logs.reset()


# --- health, readiness, metrics ------------------------------------------------


def test_healthz_and_readyz_report_what_sending_needs(app, client):
    assert client.get("/healthz").json == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json["checks"]
    assert checks["database"] == "ok" and checks["redis"] == "ok"
    assert checks["scheduler"].startswith("failed") and checks["workers"].startswith("failed")

    Scheduler(app, name="test").tick()
    worker = make_worker(app, name="readyz-test")
    worker.register_birth()
    try:
        response = client.get("/readyz")
        assert response.status_code == 200, response.json
        assert response.json["checks"]["workers"] == "ok: 1"
    finally:
        worker.register_death()


def test_readyz_fails_without_redis(config):
    app = create_app({**config, "REDIS_URL": "redis://127.0.0.1:9/0"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"].startswith("failed")
    assert response.json["checks"]["database"] == "ok"


def test_metrics_after_mail_went_out(app, tenant, run_worker, client):
    emit(tenant.slug, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'postwerk_messages{status="SENT",tenant="acme"} 1.0' in text
    assert 'postwerk_deliveries_total{outcome="sent"}' in text
    assert "postwerk_smtp_send_seconds_count" in text
    assert 'postwerk_job_seconds_count{job="deliver_messages"}' in text
    assert 'postwerk_job_seconds_count{job="expand_events"}' in text
    assert "postwerk_queue_depth" in text and "postwerk_workers" in text


def test_metrics_only_for_allowed_addresses_or_the_token(config):
    app = create_app({**config, "METRICS_TOKEN": "scrape-token-123"})
    client = app.test_client()
    outside = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    assert client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert (
        client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer scrape-token-123"}).status_code
        == 200
    )
    assert client.get("/metrics").status_code == 200  # 127.0.0.1 is allowed by default


# --- behind a reverse proxy ------------------------------------------------------

HTTPS_PROXY = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "mail.example.org"}


def _probe(app):
    @app.get("/_probe")
    def probe():
        return {"client": client_address(), "oauth_redirect": url_for("mail_oauth.callback", _external=True)}


@pytest.mark.parametrize(
    "hops, client, redirect",
    [
        (0, "127.0.0.1", "http://localhost/settings/admin/mail/oauth/callback"),
        (1, "203.0.113.7", "https://mail.example.org/settings/admin/mail/oauth/callback"),
    ],
)
def test_behind_a_proxy_the_client_and_the_scheme_are_the_real_ones(config, hops, client, redirect):
    app = create_app({**config, "PROXY_HOPS": hops})
    _probe(app)
    seen = app.test_client().get("/_probe", headers=HTTPS_PROXY).json
    assert seen == {"client": client, "oauth_redirect": redirect}


def test_hsts_on_https_outside_development(config, tmp_path):
    app = create_app({**config, "PROXY_HOPS": 1, "HSTS_SECONDS": 31536000})
    client = app.test_client()
    assert client.get("/healthz", headers=HTTPS_PROXY).headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/healthz").headers  # plain HTTP
    production = finalise({"SECRET_KEY": "x", "ENCRYPTION_KEYS": [ENCRYPTION_KEY]}, str(tmp_path))
    assert production["HSTS_SECONDS"] == 31536000 and production["PREFERRED_URL_SCHEME"] == "https"
    development = finalise({"POSTWERK_ENV": "development"}, str(tmp_path))
    assert development["HSTS_SECONDS"] == 0 and development["PREFERRED_URL_SCHEME"] == "http"


# --- the command line, Flask's way -----------------------------------------------


@pytest.fixture
def cli(config, monkeypatch):
    monkeypatch.setenv("POSTWERK_DATABASE_URL", config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("POSTWERK_REDIS_URL", config["REDIS_URL"])
    monkeypatch.setenv("POSTWERK_QUEUE_PREFIX", config["QUEUE_PREFIX"])
    monkeypatch.setenv("POSTWERK_SECRET_KEY", "cli-test")
    monkeypatch.setenv("POSTWERK_ENCRYPTION_KEY", ENCRYPTION_KEY)
    runner = CliRunner()
    yield lambda *args: runner.invoke(main, list(args), catch_exceptions=False)
    logs.reset()


def test_flask_migrate_commands_shell_and_routes(cli):
    # Alembic prints to its own stdout: the database's revisions tell.
    def revisions():
        with create_app().app_context():
            return set(db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalars())

    for command in (("db", "heads"), ("db", "history"), ("db", "check"), ("db", "branches")):
        assert cli(*command).exit_code == 0, command
    heads = revisions()
    assert cli("db", "downgrade", "ticket@-1").exit_code == 0
    assert revisions() != heads
    assert cli("db", "upgrade").exit_code == 0
    assert revisions() == heads
    assert cli("db", "stamp", "heads").exit_code == 0
    assert revisions() == heads
    routes = cli("routes")
    assert routes.exit_code == 0 and "/healthz" in routes.output and "/metrics" in routes.output
    assert "shell" in cli("--help").output


def test_a_package_adds_commands_through_flask_commands(cli, tmp_path, monkeypatch):
    dist = tmp_path / "postwerk_example-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: postwerk-example\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[flask.commands]\nexample = postwerk_example_cli:example\n")
    (tmp_path / "postwerk_example_cli.py").write_text(
        "import click\n\n@click.command()\ndef example():\n    click.echo('hello from a plugin')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(main, "_loaded_plugin_commands", False)
    try:
        assert cli("example").output.strip() == "hello from a plugin"
    finally:
        main.commands.pop("example", None)


def test_postwerk_is_the_public_import_name_of_core_api():
    import core.api
    import postwerk

    assert set(core.api.__all__) <= set(postwerk.__all__)
    for name in core.api.__all__:
        assert getattr(postwerk, name) is getattr(core.api, name), name
    from postwerk import EventSpec, hookimpl  # noqa: F401  (what docs/plugins.md shows)


def test_commands_that_need_no_application_run_without_configuration(monkeypatch):
    """Flask's group pushes an application context for its commands;
    Postwerk's build the application only when they use it (``serve`` sets
    up development keys first)."""
    for variable in ("POSTWERK_SECRET_KEY", "POSTWERK_ENCRYPTION_KEY", "POSTWERK_ENV"):
        monkeypatch.delenv(variable, raising=False)
    result = CliRunner().invoke(main, ["keys", "generate"])
    assert result.exit_code == 0 and len(result.output.strip()) == 44, result.output
    logs.reset()
