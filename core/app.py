"""The application factory."""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path
from typing import Any

from flask import Flask
from flask_babel import Babel
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from . import config as config_module
from . import logs, sqlite_gate
from . import reports  # noqa: F401 (registers the report schedules as AUTOMATE tasks)
from .crypto import check_keys
from .events import install_session_hooks
from .extensions import csrf, db, login_manager, migrate
from .plugins import PluginRegistry
from .builtin import CorePlugin
from .web import operations, register_web, security
from .web.i18n import TRANSLATIONS, select_locale

log = logging.getLogger(__name__)
CORE_MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(config: dict[str, Any] | None = None, *, extra_plugins: dict[str, Any] | None = None) -> Flask:
    """Build the app. ``config`` overrides the environment (tests);
    ``extra_plugins`` registers plugin objects that are not installed as
    packages (tests and embedding), next to the entry-point ones; one named
    like an installed entry point replaces it."""
    app = Flask(
        "core", instance_path=str(Path.cwd() / "instance"), template_folder="web/templates", static_folder="web/static"
    )
    settings = config_module.from_environment()
    settings.update(config or {})
    app.config.update(config_module.finalise(settings, app.instance_path))
    check_keys(app.config["ENCRYPTION_KEYS"])
    logs.redact(app.config["SECRET_KEY"], *app.config["ENCRYPTION_KEYS"])
    if not app.config.get("TESTING"):
        logs.configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))

    db.init_app(app)
    _sqlite_synchronous(app)
    _sqlite_writer_gate(app)
    with app.app_context():
        # An app that is dropped (the CLI's, a test's, an embedder's) closes
        # its pooled connections instead of leaving them to the garbage
        # collector (Python 3.13: "ResourceWarning: unclosed database").
        weakref.finalize(app, _dispose, list(db.engines.values()))
    migrate.init_app(app, db, directory=CORE_MIGRATIONS, render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    install_session_hooks()

    registry = PluginRegistry(strict=app.config["STRICT_PLUGINS"])
    registry.register("core", CorePlugin(), essential=True, source="core")
    if not app.config.get("POSTWERK_SKIP_ENTRY_POINTS"):
        registry.load_entry_points(skip=frozenset(extra_plugins or ()))
    for name, obj in (extra_plugins or {}).items():
        registry.register(name, obj, source="extra")
    registry.finish_loading()
    app.extensions["postwerk.plugins"] = registry
    _init_babel(app, registry)

    register_web(app, registry)
    security.init_app(app)
    operations.init_app(app)
    return app


def _init_babel(app: Flask, registry: PluginRegistry) -> None:
    """Flask-Babel with the core's catalogue and each plugin's own domain
    (``Plugin.translations``). Flask-Babel merges them into one, later over
    earlier: the plugins come first, so the core's words win when a plugin
    translates the same English text differently."""
    directories = app.config.get("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS).split(";")
    domains = app.config.get("BABEL_DOMAIN", "messages").split(";")
    if len(domains) == 1:
        domains *= len(directories)
    catalogues = registry.catalogues()
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join([d for d, _ in catalogues] + directories)
    app.config["BABEL_DOMAIN"] = ";".join([name for _, name in catalogues] + domains)
    # An instance per app: Flask-Babel caches the domain and its merged
    # catalogue on the instance, and two apps in one process (tests,
    # embedding) may have different plugins.
    Babel(app, locale_selector=select_locale)


@migrate.configure
def _plugin_migrations(alembic_config):
    """Each plugin with tables owns an Alembic branch in its own folder."""
    from flask import current_app

    registry = current_app.extensions["postwerk.plugins"]
    locations = [str(Path(CORE_MIGRATIONS) / "versions")]
    locations += [info.migrations for info in registry.plugins.values() if info.migrations]
    alembic_config.set_main_option("version_locations", os.pathsep.join(locations))
    return alembic_config


def _dispose(engines) -> None:
    for engine in engines:
        engine.dispose()


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Several processes write one SQLite file: wait for the lock instead of
        # failing, and keep readers off the writers' backs (WAL).
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


@sa_event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit in WAL mode survives an OS crash or power loss (with
    # NORMAL the last commits may roll back then); an app may choose
    # otherwise through POSTWERK_SQLITE_SYNCHRONOUS (see _sqlite_synchronous).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_writer_gate(app: Flask) -> None:
    """Writers of one process queue on a lock, not in SQLite's busy handler
    (core.sqlite_gate says why)."""
    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:
        if engine.dialect.name == "sqlite":
            timeout = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("timeout", 5)
            sqlite_gate.install(engine, timeout)


@sa_event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_in_transaction(conn, name):
    # Python's sqlite3 opens a transaction only before a write: a SAVEPOINT
    # as the first statement would open one of its own, and releasing it
    # would commit at once. Open the transaction the savepoint belongs to.
    dbapi_connection = conn.connection.dbapi_connection
    if type(dbapi_connection).__module__.startswith("sqlite3") and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


def _sqlite_synchronous(app: Flask) -> None:
    """Apply ``POSTWERK_SQLITE_SYNCHRONOUS`` to the app's SQLite engine(s)."""
    level = app.config["SQLITE_SYNCHRONOUS"]
    if level == "FULL":
        return  # what every SQLite connection gets anyway (_sqlite_pragmas)
    with app.app_context():
        engines = list(db.engines.values())

    def apply(dbapi_connection, connection_record):
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            dbapi_connection.execute(f"PRAGMA synchronous={level}")

    for engine in engines:
        sa_event.listen(engine, "connect", apply)
