"""docs/plugins.md stays in step with the code: every hook, its arguments, the entry-point group."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

from core import hookspecs
from core.plugins import ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "plugins.md").read_text()


def _hooks():
    return [
        (name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("postwerk_")
    ]


def test_every_hook_has_a_heading_with_its_exact_arguments():
    for name, fn in _hooks():
        args = ", ".join(inspect.signature(fn).parameters)
        assert f"### `{name}({args})`" in DOC, f"docs/plugins.md lacks a heading for {name}({args})"


def test_docs_name_no_hook_that_does_not_exist():
    import re

    known = {name for name, _ in _hooks()}
    assert set(re.findall(r"### `(postwerk_\w+)\(", DOC)) <= known


def test_entry_point_group_is_the_one_the_loader_uses():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert ENTRY_POINT_GROUP in project["entry-points"]
    assert f'[project.entry-points."{ENTRY_POINT_GROUP}"]' in DOC
    import re

    registered = project["entry-points"][ENTRY_POINT_GROUP]
    # Every built-in the docs name is registered exactly so (the docs may omit newer ones).
    named = dict(re.findall(r'^(\w+) = "(plugins\.[\w.]+:\w+)"$', DOC, re.M))
    assert named and all(registered.get(name) == target for name, target in named.items()), named
