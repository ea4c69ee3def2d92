"""examples/: third-party plugins kept outside plugins/, each installed the
way its users install it -- ``pip install`` of the package into an
environment that has Postwerk installed from a wheel, never PYTHONPATH --
and tested end to end with its own tests on Postwerk's kit (core/testing.py,
the pytest11 plugin)."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.support.installed import installed_postwerk

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _environment_with(package: Path, base: Path, postwerk_bin: Path) -> Path:
    """A virtualenv of its own that sees the installed Postwerk (and the test
    run's dependencies), with ``package`` pip-installed into it (not editable,
    so the tests import what pip installed)."""
    target = base / f"env-{package.name}"
    shutil.rmtree(target, ignore_errors=True)
    venv.EnvBuilder(with_pip=False).create(target)
    postwerk_lib = sysconfig.get_path(
        "purelib", vars={"base": str(postwerk_bin.parent), "platbase": str(postwerk_bin.parent)}
    )
    purelib = sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    # Postwerk's wheel first, then the test run's dependencies (a .pth line
    # is a plain path: the .pth files found there are not run).
    Path(purelib, "postwerk-installed.pth").write_text("\n".join([postwerk_lib, *site.getsitepackages()]) + "\n")
    source = base / f"src-{package.name}"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(package, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            str(target / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--disable-pip-version-check",
            str(source),
        ],
        check=True,
        cwd=base,
        env=env,
        timeout=300,
    )
    return target / "bin" / "python"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if (p / "pyproject.toml").exists()))
def test_an_example_plugin_installed_with_pip_passes_its_own_tests(name, tmp_path, tmp_path_factory):
    package = EXAMPLES / name
    python = _environment_with(package, tmp_path, installed_postwerk(tmp_path_factory.getbasetemp()))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "POSTWERK_STRICT_PLUGINS")}
    # -P: the working folder is not put on sys.path, so the package comes from pip's install.
    found = subprocess.run(
        [
            str(python),
            "-P",
            "-c",
            "import importlib.metadata as m, postwerk_"
            + name
            + " as p; print(p.__file__); print([e.name for e in m.entry_points("
            "group='postwerk.plugins')])",
        ],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    assert str(tmp_path) in found.stdout.splitlines()[0] and f"'{name}'" in found.stdout, found.stdout
    run = subprocess.run(
        [str(python), "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "failed" not in run.stdout
