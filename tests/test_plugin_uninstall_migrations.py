"""A plugin with tables can be uninstalled and installed again: after
``pip uninstall`` the database still upgrades (the plugin's revision is set
aside, with a log line naming it), and after reinstalling, its migrations go
on from where its tables are, rows and all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import ENCRYPTION_KEY
from tests.support.plugin_wheel import plugin_wheel

_SCRIPT = Path(sys.executable).parent / "postwerk"
POSTWERK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "core.cli"]


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "--no-input", *args], check=True, timeout=300
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_uninstalling_a_plugin_with_tables_leaves_a_database_that_upgrades(config, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTWERK_", "PROMETHEUS_"))}
    env.update(
        POSTWERK_DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        POSTWERK_REDIS_URL=config["REDIS_URL"],
        POSTWERK_SECRET_KEY="uninstall-test",
        POSTWERK_ENCRYPTION_KEY=ENCRYPTION_KEY,
        POSTWERK_PLUGIN_RELOAD="0",
    )
    engine = sa.create_engine(config["SQLALCHEMY_DATABASE_URI"])

    def upgrade() -> str:
        run = subprocess.run(
            [*POSTWERK, "db", "upgrade"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout + run.stderr

    def versions() -> set[str]:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())

    def set_aside() -> list[tuple]:
        with engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    sa.text("SELECT plugin, revision FROM postwerk_plugin_revision WHERE set_aside = :t"), {"t": True}
                )
            ]

    wheel = plugin_wheel(tmp_path, with_migration=True)
    installed = False
    try:
        _pip("install", "--no-deps", "--no-index", wheel)
        installed = True
        upgrade()
        assert "hotplug0001" in versions()
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO hotplug_note (id) VALUES (7)"))

        _pip("uninstall", "-y", "postwerk-hotplug")
        installed = False
        out = upgrade()
        assert "plugin hotplug is not installed" in out
        assert "hotplug0001" not in versions()
        assert set_aside() == [("hotplug", "hotplug0001")]
        assert "plugin hotplug is not installed" not in upgrade()  # said once, then quiet

        _pip("install", "--no-deps", "--no-index", wheel)
        installed = True
        out = upgrade()
        assert "plugin hotplug is installed again" in out
        assert "hotplug0001" in versions()
        assert set_aside() == []
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM hotplug_note")).scalars().all() == [7]

        # An admin who wants the tables gone migrates the branch down first.
        down = subprocess.run(
            [*POSTWERK, "db", "downgrade", "hotplug@base"], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert down.returncode == 0, down.stdout + down.stderr
        assert not sa.inspect(engine).has_table("hotplug_note")
        _pip("uninstall", "-y", "postwerk-hotplug")
        installed = False
        assert "set aside" not in upgrade()
        _pip("install", "--no-deps", "--no-index", wheel)
        installed = True
        assert "installed again" not in upgrade()
        assert sa.inspect(engine).has_table("hotplug_note")  # created anew, empty
    finally:
        engine.dispose()
        if installed:
            _pip("uninstall", "-y", "postwerk-hotplug")


def test_a_version_of_the_plugin_that_does_not_know_its_revision_is_refused(app, caplog):
    """Installed again in an older version, the plugin would create its tables
    anew over the old ones; the upgrade refuses, naming the plugin."""
    from flask_migrate import upgrade

    with app.app_context():
        from core.extensions import db

        # As left by an uninstall of a later version of the ticket plugin.
        db.session.execute(sa.text("DELETE FROM alembic_version WHERE version_num = 't0004'"))
        db.session.execute(
            sa.text("UPDATE postwerk_plugin_revision SET revision = 't0099', set_aside = :t WHERE plugin = 'ticket'"),
            {"t": True},
        )
        db.session.commit()
        with pytest.raises(SystemExit):  # how Flask-Migrate ends a failed command
            upgrade(revision="heads")
    assert "plugin ticket's tables are at revision t0099" in caplog.text
