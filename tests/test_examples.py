"""examples/: third-party plugins kept outside plugins/, each tested as a
separate package with its own tests on Postwerk's kit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if (p / "pyproject.toml").exists()))
def test_an_example_plugin_passes_its_own_tests(name):
    package = EXAMPLES / name
    env = dict(os.environ, PYTHONPATH=str(package))
    env.pop("POSTWERK_STRICT_PLUGINS", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " passed" in run.stdout and "failed" not in run.stdout
