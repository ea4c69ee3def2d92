"""`postwerk plugins new NAME` writes a plugin package whose own tests pass
with Postwerk's kit, and which loads without a problem."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from core.cli import main


def _package_tests_pass(pkg, env: dict) -> None:
    """The generated package's own tests, run as its author runs them."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=pkg,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 passed" in run.stdout


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
        "postwerk_parking/translations/de/LC_MESSAGES/postwerk_parking.po",
        "postwerk_parking/translations/de/LC_MESSAGES/postwerk_parking.mo",
    ):
        assert (pkg / name).is_file(), name
    assert 'parking = "postwerk_parking.plugin:ParkingPlugin"' in (pkg / "pyproject.toml").read_text()
    # The package's own tests, run as its author runs them (the kit comes in through pytest11).
    env = dict(os.environ, PYTHONPATH=str(pkg))
    env.pop("POSTWERK_STRICT_PLUGINS", None)
    _package_tests_pass(pkg, env)
    # The kit runs with POSTWERK_STRICT_PLUGINS on: the plugin also loaded without a problem.
    po = (pkg / "postwerk_parking/translations/de/LC_MESSAGES/postwerk_parking.po").read_text()
    assert 'msgid "Tell the contact about a new entry"' in po and "fuzzy" not in po


def test_the_scaffold_installed_with_pip_install_e_shows_up_and_its_tests_pass(tmp_path):
    """As its author works: ``pip install -e`` (the catalogue and templates
    found through the editable install), then ``pytest`` in the package."""
    pkg = tmp_path / "pkg"
    result = CliRunner().invoke(main, ["plugins", "new", "scaffolded", "--directory", str(pkg)])
    assert result.exit_code == 0, result.output
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(pkg)], check=True, timeout=300)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTWERK_", "PYTHONPATH"))}
        env.update(POSTWERK_ENV="development", POSTWERK_DATABASE_URL=f"sqlite:///{tmp_path / 'list.sqlite3'}")
        listing = subprocess.run(
            [sys.executable, "-m", "core.cli", "plugins", "list"], env=env, capture_output=True, text=True, timeout=120
        )
        assert listing.returncode == 0, listing.stdout + listing.stderr
        assert "scaffolded" in listing.stdout and "broken" not in listing.stdout.lower()
        _package_tests_pass(pkg, env)
    finally:
        subprocess.run([*pip, "uninstall", "-y", "postwerk-scaffolded"], check=True, timeout=300)


def test_plugins_new_refuses_a_bad_name_or_an_existing_directory(tmp_path):
    runner = CliRunner()
    assert "is not a plugin name" in runner.invoke(main, ["plugins", "new", "Bad-Name"]).output
    (tmp_path / "x").mkdir()
    result = runner.invoke(main, ["plugins", "new", "parking", "--directory", str(tmp_path / "x")])
    assert result.exit_code != 0 and "exists already" in result.output
