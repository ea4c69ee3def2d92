"""Checks that keep the project honest: docs equal code, layering holds,
migrations equal models."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core import config, hookdocs
from core.extensions import db
from core.plugins import ENTRY_POINT_GROUP, registry

ROOT = Path(__file__).resolve().parent.parent


def test_docs_hooks_is_rendered_from_the_hookspecs():
    assert (ROOT / "docs" / "hooks.md").read_text() == hookdocs.render(), (
        "docs/hooks.md is stale: run `python -m core.hookdocs > docs/hooks.md`"
    )


def test_entry_point_group_is_one_name_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # Besides the plugin group, only the kit for plugin authors' tests (pytest11).
    assert [g for g in project["entry-points"] if g != "pytest11"] == [ENTRY_POINT_GROUP]
    assert project["entry-points"]["pytest11"] == {"postwerk": "core.testing"}
    for doc in ROOT.glob("docs/*.md"):
        for group in re.findall(r"entry[- ]point group `([^`]+)`", doc.read_text()):
            assert group == ENTRY_POINT_GROUP, doc


def test_readme_configuration_table_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    for variable, *_ in config.SETTINGS:
        assert f"`{variable}`" in readme, f"{variable} is missing from the README's configuration table"


def _python_files(folder: str):
    return [p for p in (ROOT / folder).rglob("*.py") if "migrations" not in p.parts]


def test_core_never_imports_a_plugin():
    for path in _python_files("core"):
        assert not re.search(r"^\s*(from|import) plugins\b", path.read_text(), re.M), path


def test_plugins_use_only_the_public_api_of_the_core():
    for path in _python_files("plugins"):
        for module in re.findall(r"^\s*from (core[\w.]*) import", path.read_text(), re.M):
            assert module == "core.api", f"{path.relative_to(ROOT)} imports {module}; use core.api"
        assert not re.search(r"^\s*import core\b", path.read_text(), re.M), path


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_migrations_create_exactly_the_models(ctx):
    from core.plugin_revisions import revisions

    # Like alembic_version, the note of the plugins' revisions is migration
    # bookkeeping (core.plugin_revisions), no model's table.
    def include_name(name, type_, parent_names):
        return not (type_ == "table" and name == revisions.name)

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_migration_branch_has_one_head(app):
    """One line of history per branch: a second head means two changes were
    merged without being put in order."""
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_revisions("heads")
        with_tables = {name for name, info in registry().plugins.items() if info.migrations}
    labels = [label for head in heads for label in head.branch_labels]
    assert sorted(labels) == sorted(set(labels)), f"a branch has several heads: {[h.revision for h in heads]}"
    assert set(labels) == {"core"} | with_tables
