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


def data_strings() -> list[str]:
    """English words that plugins and presets declare as data (shown through
    ``core.web.words.tr``): every installed plugin's event labels,
    descriptions, roles and placeholders, and the provider presets."""
    sys.path.insert(0, str(ROOT))
    from core.mail.presets import PRESETS
    from core.mail.variables import CORE_VARIABLES
    from core.plugins import registry

    from core.app import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "translations",
                      "ENCRYPTION_KEYS": ["0" * 43 + "="]})
    texts: list[str] = [*CORE_VARIABLES.values()]
    with app.app_context():
        plugins = sorted(registry().plugins.items())
        # Default rule names, shown translated while the admin has not renamed them.
        texts += [spec.name for _name, specs in registry().call_each("postwerk_default_rules") for spec in specs or ()]
    for _name, info in plugins:
        texts.append(info.description or "")
        for spec in info.events:
            texts += [spec.label, spec.description, *(r.description for r in spec.roles),
                      *(v.description for v in spec.variables)]
    for preset in PRESETS:
        texts += [preset.label, preset.note, preset.username_hint]
    return [t for t in dict.fromkeys(texts) if t]


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
    for text in data_strings():
        if text not in catalog:
            catalog.add(text)
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
