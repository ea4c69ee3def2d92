"""Alembic environment for Postwerk: the core's branch and every plugin's.

Autogenerate for one branch only: ``postwerk db revision --branch NAME``
passes ``-x branch=NAME``, and only tables whose ``info["plugin"]`` is NAME
(or, for ``core``, tables without that mark) are compared.
"""

import logging

from alembic import context
from flask import current_app

from core import plugin_revisions

config = context.config
log = logging.getLogger("alembic.env")
db = current_app.extensions["migrate"].db
branch = context.get_x_argument(as_dictionary=True).get("branch", "core")


def include_object(obj, name, type_, reflected, compare_to):
    if type_ != "table":
        return True
    if name == plugin_revisions.revisions.name:
        return False  # bookkeeping of the migrations, like alembic_version: no model's table
    table = obj if not reflected or compare_to is None else compare_to
    owner = table.info.get("plugin", "core") if table is not None else None
    if owner is None:  # a reflected table we have no model for: belongs to someone else
        return False
    return owner == branch


def render_item(type_, obj, autogen_context):
    # Migrations hold plain SQL types; UTCDateTime only converts in Python.
    from core.models.types import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def process_revision_directives(ctx, revision, directives):
    # No empty revision files from autogenerate.
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def run_migrations_online():
    args = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", process_revision_directives)
    with db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            include_object=include_object,
            render_item=render_item,
            **args,
        )
        script = context.script
        plugins = _plugin_folders()
        _in_own_transaction(connection, lambda: plugin_revisions.reconcile(connection, script, plugins))
        with context.begin_transaction():
            context.run_migrations()
        _in_own_transaction(connection, lambda: plugin_revisions.note_heads(connection, script, plugins))


def _in_own_transaction(connection, work) -> None:
    """Outside Alembic's transaction, which on SQLite is one per migration
    (no transactional DDL) and would leave our bookkeeping uncommitted; what
    is open here was only auto-begun by reading."""
    if connection.in_transaction():
        connection.commit()
    with connection.begin():
        work()


def _plugin_folders() -> dict[str, str]:
    """The installed plugins with migrations, and their folders."""
    registry = current_app.extensions["postwerk.plugins"]
    return {name: info.migrations for name, info in registry.plugins.items() if info.migrations}


if context.is_offline_mode():
    context.configure(
        url=db.engine.url.render_as_string(hide_password=False), target_metadata=db.metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
