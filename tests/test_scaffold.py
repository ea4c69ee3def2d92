"""`postwerk plugins new NAME` writes a plugin package whose own tests pass
with Postwerk's kit, and which loads without a problem."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from core.cli import main


def test_plugins_new_creates_a_package_whose_tests_pass(tmp_path):
    result = CliRunner().invoke(main, ["plugins", "new", "parking", "--directory", str(tmp_path / "pkg")])
    assert result.exit_code == 0, result.output
    pkg = tmp_path / "pkg"
    for name in (
        "pyproject.toml",
        "postwerk_parking/plugin.py",
        "postwerk_parking/migrations/parking0001_tables.py",
        "postwerk_parking/templates/postwerk_parking/index.html",
        "tests/test_plugin.py",
    ):
        assert (pkg / name).is_file(), name
    assert 'parking = "postwerk_parking.plugin:ParkingPlugin"' in (pkg / "pyproject.toml").read_text()
    # The package's own tests, run as its author runs them (the kit comes in through pytest11).
    env = dict(os.environ, PYTHONPATH=str(pkg))
    env.pop("POSTWERK_STRICT_PLUGINS", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=pkg,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout
    # The kit runs with POSTWERK_STRICT_PLUGINS on: the plugin also loaded without a problem.


def test_plugins_new_refuses_a_bad_name_or_an_existing_directory(tmp_path):
    runner = CliRunner()
    assert "is not a plugin name" in runner.invoke(main, ["plugins", "new", "Bad-Name"]).output
    (tmp_path / "x").mkdir()
    result = runner.invoke(main, ["plugins", "new", "parking", "--directory", str(tmp_path / "x")])
    assert result.exit_code != 0 and "exists already" in result.output
