"""Print pip constraints pinning every dependency of Postwerk to its lowest allowed version.

``python scripts/lowest_constraints.py [EXTRA ...]`` reads pyproject.toml:
each ``name>=X`` of ``[project].dependencies`` (and of the named extras)
becomes ``name==X``. scripts/test-lowest installs with these constraints, so
a lower bound that admits a version Postwerk cannot run on fails in CI.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$")


def lowest(requirement: str) -> str | None:
    name, _, spec = REQUIREMENT.match(requirement).groups()
    floor = re.search(r">=\s*([^,;\s]+)", spec)
    return f"{name}=={floor.group(1)}" if floor else None


def main(extras: list[str]) -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    for requirement in requirements:
        pin = lowest(requirement)
        if pin:
            print(pin)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
