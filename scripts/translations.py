"""Refresh core/translations: extract, fill German from de_strings.py, compile.

Run from the repository root: ``python scripts/translations.py``. Needs no
network (Babel only). Strings missing in de_strings.py stay English and are
listed.
"""
from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "core" / "translations"


def main() -> int:
    pot = TRANSLATIONS / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", str(ROOT / "babel.cfg"),
                    "-k", "_l", "--no-location", "--omit-header", "-o", str(pot), "."],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    german = runpy.run_path(str(TRANSLATIONS / "de_strings.py"))["DE"]
    with pot.open("rb") as f:
        catalog = read_po(f, locale="de")
    catalog.fuzzy = False
    catalog.project, catalog.version = "Postwerk", ""
    missing = []
    for message in catalog:
        if message.id:
            message.string = german.get(message.id, "")
            message.flags.discard("fuzzy")
            if not message.string:
                missing.append(message.id)
    target = TRANSLATIONS / "de" / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "messages.po").open("wb") as f:
        write_po(f, catalog, omit_header=False)
    with (target / "messages.mo").open("wb") as f:
        write_mo(f, catalog)
    for text in missing:
        print("untranslated:", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
