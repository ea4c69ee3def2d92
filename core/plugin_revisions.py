"""The Alembic revisions of plugins that are not installed, set aside so that
the database still upgrades, and put back when the plugin returns.

Every plugin with tables owns an Alembic branch, and its head sits in
``alembic_version`` beside the core's. After ``pip uninstall`` Alembic can no
longer find that revision and refuses every command ("Can't locate
revision"). So before each migration command (core/migrations/env.py):

- a revision of ``alembic_version`` that no installed migration folder knows
  moves into ``postwerk_plugin_revision`` (``set_aside``), with the name of
  the plugin that owned it; its tables and rows stay as they are;
- a set-aside revision whose plugin is installed again goes back into
  ``alembic_version``, so the plugin's migrations go on from where its
  tables are instead of creating them anew.

After the command the table notes, for every installed plugin with a
migrated branch, which revision it is at: that is how the name of a plugin
is known once its code is gone. The table is the migration machinery's own
bookkeeping, like ``alembic_version`` (created here, in no migration).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError

log = logging.getLogger(__name__)

_metadata = sa.MetaData()
revisions = sa.Table(
    "postwerk_plugin_revision",
    _metadata,
    sa.Column("plugin", sa.String(100), primary_key=True),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("set_aside", sa.Boolean(), nullable=False, default=False),
)
VERSION_TABLE = "alembic_version"


class RevisionOfOtherVersion(CommandError):
    """The installed plugin does not know the revision its tables are at
    (an older version of it was installed)."""


def _known(script: ScriptDirectory, revision: str):
    try:
        return script.revision_map.get_revision(revision)
    except RevisionError:  # ResolutionError: no such revision
        return None


def _owner(script: ScriptDirectory, revision: str, folders: Mapping[str, str]) -> str | None:
    """The plugin whose migration folder holds ``revision`` (None for the core)."""
    found = _known(script, revision)
    if found is None or found.path is None:
        return None
    return folders.get(os.path.realpath(os.path.dirname(found.path)))


def _version_rows(connection) -> list[str]:
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return []
    return list(connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def reconcile(connection, script: ScriptDirectory, plugins: Mapping[str, str]) -> None:
    """Set aside the revisions of missing plugins, put back those of returned
    ones. ``plugins`` maps each installed plugin with migrations to its folder."""
    revisions.create(connection, checkfirst=True)
    noted = {row.revision: row for row in connection.execute(sa.select(revisions))}
    for revision in _version_rows(connection):
        if _known(script, revision) is not None:
            continue
        row = noted.get(revision)
        plugin = row.plugin if row is not None else f"unknown plugin (revision {revision})"
        if row is None:
            connection.execute(sa.insert(revisions).values(plugin=plugin, revision=revision, set_aside=True))
        else:
            connection.execute(sa.update(revisions).where(revisions.c.plugin == plugin).values(set_aside=True))
        connection.execute(sa.text(f"DELETE FROM {VERSION_TABLE} WHERE version_num = :r"), {"r": revision})
        log.warning(
            "plugin %s is not installed: its migrations (at revision %s) are set aside, its tables and data stay; "
            "installing it again goes on from there",
            plugin,
            revision,
        )
    for row in connection.execute(sa.select(revisions).where(revisions.c.set_aside)).all():
        if row.plugin not in plugins and _known(script, row.revision) is None:
            # Still missing (or set aside before its plugin's name was noted,
            # and not back yet).
            continue
        if _known(script, row.revision) is None:
            raise RevisionOfOtherVersion(
                f"plugin {row.plugin}'s tables are at revision {row.revision}, which the installed version "
                f"of {row.plugin} does not know: install the version that brought it (or a later one)"
            )
        connection.execute(sa.text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:r)"), {"r": row.revision})
        connection.execute(sa.update(revisions).where(revisions.c.plugin == row.plugin).values(set_aside=False))
        log.warning("plugin %s is installed again: its migrations go on from revision %s", row.plugin, row.revision)


def note_heads(connection, script: ScriptDirectory, plugins: Mapping[str, str]) -> None:
    """After a migration command: which revision each installed plugin's
    branch is at (a plugin migrated down to base loses its note)."""
    folders = {os.path.realpath(folder): name for name, folder in plugins.items()}
    heads = {}
    for revision in _version_rows(connection):
        plugin = _owner(script, revision, folders)
        if plugin is not None:
            heads[plugin] = revision
    connection.execute(sa.delete(revisions).where(revisions.c.set_aside.is_(False)))
    connection.execute(sa.delete(revisions).where(revisions.c.plugin.in_(list(heads))))
    for plugin, revision in heads.items():
        connection.execute(sa.insert(revisions).values(plugin=plugin, revision=revision, set_aside=False))
