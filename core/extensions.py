"""Flask extensions, created unbound and bound in ``create_app``."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations are identical on SQLite and
# PostgreSQL and batch operations on SQLite can find constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DeferredMigrate:
    """Flask-Migrate, imported when a migration command first asks for it.

    Importing Flask-Migrate loads Alembic (about 0.1 s of CPU), which a
    worker never needs. ``init_app`` puts a stand-in into
    ``app.extensions["migrate"]``; the first attribute anyone reads of it
    (Flask-Migrate's ``upgrade``, ``postwerk db ...``) binds the real
    ``flask_migrate.Migrate`` with the same arguments and callbacks, which
    then replaces the stand-in."""

    def __init__(self) -> None:
        self.configure_callbacks: list[Callable[[Any], Any]] = []

    def configure(self, f: Callable[[Any], Any]) -> Callable[[Any], Any]:
        self.configure_callbacks.append(f)
        return f

    def init_app(self, app: Flask, db: SQLAlchemy, **options: Any) -> None:
        app.extensions["migrate"] = _MigrateStandIn(self, app, db, options)


class _MigrateStandIn:
    def __init__(self, deferred: DeferredMigrate, app: Flask, db: SQLAlchemy, options: dict[str, Any]) -> None:
        self._bind_args = (deferred, weakref.ref(app), db, options)

    def __getattr__(self, name: str) -> Any:
        deferred, app_ref, db, options = self.__dict__["_bind_args"]
        app = app_ref()
        if app is None:
            raise RuntimeError("the application of this Flask-Migrate binding is gone")
        if app.extensions.get("migrate") is self:
            from flask_migrate import Migrate

            real = Migrate()
            real.configure_callbacks = deferred.configure_callbacks
            real.init_app(app, db, **options)  # replaces the stand-in
        return getattr(app.extensions["migrate"], name)


db = SQLAlchemy(model_class=Base)
migrate = DeferredMigrate()
csrf = CSRFProtect()
login_manager = LoginManager()
# Flask-Babel: one instance per app, made in app.py (it caches the plugins' catalogues).
