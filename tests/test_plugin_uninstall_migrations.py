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
        assert "plugin hotplug is not installed" not in upgrade()  # said once, then quiet

        _pip("install", "--no-deps", "--no-index", wheel)
        installed = True
        out = upgrade()
        assert "plugin hotplug is installed again" in out
        assert "hotplug0001" in versions()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM hotplug_note")).scalars().all() == [7]
    finally:
        engine.dispose()
        if installed:
            _pip("uninstall", "-y", "postwerk-hotplug")
