"""Postwerk installed the way an operator installs it: a wheel, not editable.

A virtualenv of its own holds only the wheel; the dependencies come from the
test run's environment through a ``.pth`` line (a plain path: the editable
install's own ``.pth`` hooks there are not run, so ``core`` resolves only to
the wheel). Built once per test session, without network (setuptools from the
``test`` extra, no build isolation).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_SKIP = shutil.ignore_patterns(
    ".git", ".venv*", "instance", "tests", "bench", "build", "dist", "*.egg-info", "__pycache__", "test-artifacts"
)


def installed_postwerk(base: Path) -> Path:
    """The ``bin`` folder of a virtualenv with Postwerk installed from a wheel."""
    target = base / "installed-postwerk"
    bin_dir = target / "bin"
    if (bin_dir / "postwerk").exists():
        return bin_dir
    source = base / "postwerk-source"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(ROOT, source, ignore=_SKIP)
    venv.EnvBuilder(with_pip=False).create(target)
    purelib = sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    Path(purelib, "postwerk-test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            str(bin_dir / "python"),
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
    )
    return bin_dir


def decoy_core(folder: Path) -> Path:
    """A working folder with a ``core`` package of its own (an operator's
    project may well have one): Postwerk must not pick it up."""
    (folder / "core").mkdir(parents=True, exist_ok=True)
    (folder / "core" / "__init__.py").write_text("raise ImportError('the wrong core package: the working folder')\n")
    (folder / "core" / "cli.py").write_text("raise SystemExit('the wrong core.cli: the working folder')\n")
    return folder
