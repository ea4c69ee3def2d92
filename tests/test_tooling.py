"""The field's tooling, run by the one test command (scripts/test): the
import layers (import-linter), lint and format (ruff) and types (mypy), as
configured in pyproject.toml and described in README "Contributing"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    program = BIN / tool
    assert program.exists(), f"{tool} is missing: install the dev extra (scripts/bootstrap does)"
    return subprocess.run([str(program), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_core_keeps_its_layers():
    """Layers import only downwards, the core never imports a plugin, plugins
    import only core.api, and no package of the core has an import circle."""
    result = _run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_is_formatted():
    result = _run("ruff", "format", "--check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, "run `ruff format .`:\n" + result.stdout[-3000:] + result.stderr[-2000:]


def test_mypy_is_clean_on_the_core():
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wakeups_name_the_real_jobs():
    """Code below the mail pipeline wakes its jobs by import path
    (core.wakeups); the paths are the ones RQ records for the jobs."""
    from core import wakeups
    from core.mail import jobs

    for path, job in ((wakeups.EXPAND_EVENTS, jobs.expand_events), (wakeups.DELIVER_MESSAGES, jobs.deliver_messages)):
        assert path == f"{job.__module__}.{job.__qualname__}"
    assert jobs.wake_expander is wakeups.wake_expander and jobs.wake_deliverer is wakeups.wake_deliverer


def test_a_job_outside_an_app_context_says_which_worker_to_run():
    """Jobs no longer build an app of their own (that is the top layer's
    business): outside Postwerk's worker they stop with a clear error."""
    from core.jobs import NoAppContext
    from core.mail.jobs import deliver_messages

    with pytest.raises(NoAppContext, match="rq worker -w core.worker.PostwerkWorker"):
        deliver_messages(1)


def _late_core_imports():
    """(path, line) of every import of a core module inside a function of
    core/ that has no comment: on its line, on a line of its group of
    imports, or on the line just above the group."""
    import ast

    for path in sorted((ROOT / "core").rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = path.read_text().splitlines()
        tree = ast.parse("\n".join(lines))
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = [node for node in ast.walk(function) if node is not function]
            imports = sorted(
                (node for node in body if isinstance(node, (ast.Import, ast.ImportFrom))), key=lambda node: node.lineno
            )
            for node in imports:
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if not (
                    (isinstance(node, ast.ImportFrom) and node.level)
                    or any(n == "core" or n.startswith("core.") for n in names)
                ):
                    continue
                # The group: this import and the imports right above it, blank lines between them allowed.
                first = node.lineno
                while first > 1 and (
                    lines[first - 2].strip().startswith(("import ", "from ")) or not lines[first - 2].strip()
                ):
                    first -= 1
                group = lines[first - 2 : node.end_lineno]
                if not any("#" in line for line in group):
                    yield f"{path.relative_to(ROOT)}:{node.lineno}"


def test_a_late_import_says_why():
    """Inside a function, an import of the core needs a comment saying why it
    is not at the top (docs/architecture.md)."""
    assert list(_late_core_imports()) == []
