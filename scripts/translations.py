"""Refresh the gettext catalogues: extract, update the .po files, compile.

The German texts live in ordinary gettext catalogues, edited with any PO
editor (Poedit, Lokalize, Weblate) or by hand:

    core/translations/de/LC_MESSAGES/messages.po      the core and the bundled plugins

Run from the repository root (Babel only, no network)::

    python scripts/translations.py                      # extract + update + compile
    python scripts/translations.py --import-dict FILE   # fold a dict of German strings in first

What the plain run does, in the order ``pybabel extract / update / compile``
would, plus the words that come from data:

1. extract every marked string of ``core/`` and ``plugins/`` (Python:
   ``_``, ``gettext``, ``_l``, ``t``, ``_t``, ``MenuEntry``; Jinja templates) into
   ``core/translations/messages.pot``, and add the words plugins and presets
   declare as data (event labels, roles, placeholders, task labels, default
   rule names, provider presets);
2. update ``de/LC_MESSAGES/messages.po`` from it: new strings come in
   untranslated, gone ones are kept as obsolete (``#~``) so no translation is
   lost, translations are never guessed (no fuzzy matching);
3. compile ``messages.mo`` (committed, so a checkout runs without a build step)
   and list what is still untranslated.

``--import-dict FILE`` (repeatable) is the one-shot importer for strings still
kept the old way, as a Python dict from English to German (for example a
branch's ``core/translations/de_strings_<topic>.py``, ``DE_TOPIC = {...}``):
every top-level dict of strings in FILE is merged into the .po (an existing
translation is overwritten, a new id is added) before the update runs. After
the merge, delete FILE: the .po is the source.

A plugin's own catalogue (its Babel domain, see docs/plugins.md) is refreshed
with ``--plugin DIR``: DIR is the plugin's package folder; it must hold a
``translations/`` folder, and the domain is the package's name. Its strings
are the marked ones of DIR's code and templates plus the words its installed
plugin declares as data. ``--fill-from PO`` takes translations of strings
still untranslated from another catalogue (how the bundled plugins' strings
moved out of the core's).
"""

from __future__ import annotations

import argparse
import io
import runpy
import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "core" / "translations"
LANGUAGES = ("de",)
# ``MenuEntry("Tickets", ...)``: a menu label is a marked string too.
KEYWORDS = ("_l", "t", "_t", "MenuEntry:1")


def _app(extra_plugins: dict | None = None):
    sys.path.insert(0, str(ROOT))
    from core.app import create_app

    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "SECRET_KEY": "translations",
            "ENCRYPTION_KEYS": ["0" * 43 + "="],
        },
        extra_plugins=extra_plugins,
    )


def _plugin_texts(reg, wanted) -> list[str]:
    """Words the plugins ``wanted(name, info)`` declare as data: description,
    event labels and descriptions, roles, placeholders, task labels and
    descriptions, default rule names (shown translated while the admin has
    not renamed them)."""
    texts: list[str] = []
    chosen = {name for name, info in reg.plugins.items() if wanted(name, info)}
    for name in sorted(chosen):
        info = reg.plugins[name]
        texts.append(info.description or "")
        for spec in info.events:
            texts += [
                spec.label,
                spec.description,
                *(r.description for r in spec.roles),
                *(v.description for v in spec.variables),
                *(c.description for c in spec.conditions),
            ]
    for name, specs in reg.call_each("postwerk_default_rules"):
        texts += [spec.name for spec in specs or ()] if name in chosen else []
    for name, specs in reg.call_each("postwerk_tasks"):
        for spec in specs or () if name in chosen else ():
            texts += [spec.label, spec.description]
    # Reports offered for scheduled report mails (label and description).
    for name, specs in reg.call_each("postwerk_reports"):
        for spec in specs or () if name in chosen else ():
            texts += [spec.label, spec.description]
    return texts


def data_strings() -> list[str]:
    """English words that plugins and presets declare as data (shown through
    ``core.web.words.tr``): the words of every plugin without a catalogue of
    its own (``Plugin.translations``), the core's tasks and placeholders, and
    the provider presets."""
    app = _app()
    from core.automate.tasks import CORE_TASKS
    from core.mail.presets import PRESETS
    from core.mail.variables import CORE_VARIABLES
    from core.plugins import registry

    texts: list[str] = [*CORE_VARIABLES.values()]
    for spec in CORE_TASKS:
        texts += [spec.label, spec.description]
    with app.app_context():
        texts += _plugin_texts(registry(), lambda name, info: not getattr(info.obj, "translations", None))
    for preset in PRESETS:
        texts += [preset.label, preset.note, preset.username_hint]
    return [t for t in dict.fromkeys(texts) if t and isinstance(t, str)]


def _plugin_classes(package: Path) -> dict:
    """The ``core.api.Plugin`` classes defined in ``package`` (imported from
    its parent folder), for a plugin that is not installed."""
    import importlib
    import inspect
    import pkgutil

    sys.path.insert(0, str(package.parent))
    from core.api import Plugin

    found = {}
    top = importlib.import_module(package.name)
    for info in pkgutil.walk_packages(top.__path__, package.name + "."):
        if ".tests" in info.name or ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Plugin) and cls is not Plugin and cls.__module__ == module.__name__:
                found[f"{package.name}-{cls.__name__}"] = cls
    return found


def plugin_data_strings(package: Path) -> list[str]:
    """The data words of the plugins whose code lives in ``package``: the
    installed ones, else the Plugin classes found in it."""
    sys.path.insert(0, str(ROOT))
    from core.plugins import registry

    def inside(_name, info) -> bool:
        source = getattr(sys.modules.get(type(info.obj).__module__), "__file__", None) or ""
        return bool(source) and Path(source).resolve().is_relative_to(package)

    app = _app()
    with app.app_context():
        if not any(inside(n, i) for n, i in registry().plugins.items() if i.obj is not None):
            app = _app(_plugin_classes(package))
    with app.app_context():
        texts = _plugin_texts(registry(), inside)
    return [t for t in dict.fromkeys(texts) if t and isinstance(t, str)]


def dict_strings(path: Path) -> dict[str, str]:
    """Every top-level dict of str -> str in the Python file ``path``, merged."""
    found: dict[str, str] = {}
    for name, value in runpy.run_path(str(path)).items():
        if name.startswith("__") or not isinstance(value, dict):
            continue
        if value and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            found.update(value)
    if not found:
        raise SystemExit(f"{path}: no dict of English -> German strings found")
    return found


def read_catalog(path: Path, locale: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=locale, project="Postwerk", version="")
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def import_dict(catalog: Catalog, german: dict[str, str]) -> int:
    """Merge ``german`` into ``catalog``; an obsolete id comes back to life."""
    for msgid, msgstr in german.items():
        catalog.obsolete.pop(msgid, None)
        message = catalog.get(msgid)
        if message is None:
            catalog.add(msgid, msgstr)
        else:
            message.string = msgstr
            message.flags.discard("fuzzy")
    return len(german)


def extract(source_dirs: list[Path], pot: Path, extra: list[str], cwd: Path, mapping: Path | None) -> Catalog:
    """``pybabel extract`` of ``source_dirs`` into ``pot``, plus ``extra`` strings."""
    command = [
        sys.executable,
        "-m",
        "babel.messages.frontend",
        "-q",
        "extract",
        "--no-location",
        "--omit-header",
        "--sort-output",
        "-o",
        str(pot),
    ]
    for keyword in KEYWORDS:
        command += ["-k", keyword]
    if mapping is not None:
        command += ["-F", str(mapping)]
    command += [str(d) for d in source_dirs]
    subprocess.run(command, check=True, cwd=cwd, stdout=subprocess.DEVNULL)
    with pot.open("rb") as f:
        template = read_po(f)
    for text in extra:
        if text not in template:
            template.add(text)
    template.project, template.version = "Postwerk", ""
    with pot.open("wb") as f:
        write_po(f, template, omit_header=True, sort_output=True)
    return template


def _content(catalog: Catalog) -> list:
    """What a catalogue says, without its header: to tell whether an update changed anything."""
    live = sorted((str(m.id), str(m.string), sorted(m.flags)) for m in catalog if m.id)
    return [live, sorted((str(k), str(m.string)) for k, m in catalog.obsolete.items())]


def update_and_compile(
    folder: Path, domain: str, template: Catalog, imports: list[Path], fill_from: list[Path] = ()
) -> list[str]:
    """Update every language's ``<domain>.po`` under ``folder`` from ``template`` and compile it;
    strings still untranslated take the translation the catalogues ``fill_from`` have."""
    missing = []
    for locale in LANGUAGES:
        target = folder / locale / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        po = target / f"{domain}.po"
        catalog = read_catalog(po, locale)
        before = _content(catalog)
        for path in imports:
            print(f"imported {import_dict(catalog, dict_strings(path))} strings from {path}")
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        for path in fill_from:
            known = {m.id: m.string for m in read_catalog(path, locale) if m.id and m.string}
            for message in catalog:
                if message.id and not message.string and message.id in known:
                    message.string = known[message.id]
        catalog.fuzzy = False
        catalog.project, catalog.version = "Postwerk", ""
        mo = target / f"{domain}.mo"
        # Unchanged strings: leave the .po alone (no new date in the header, no diff to merge).
        if _content(catalog) != before or not po.exists():
            with po.open("wb") as f:
                write_po(f, catalog, omit_header=False, width=120)
        # The .mo follows the .po whatever made them differ: a hand edit of the .po
        # (which the update above does not see as a change) or a placeholder .mo.
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        if not mo.exists() or mo.read_bytes() != compiled.getvalue():
            mo.write_bytes(compiled.getvalue())
        missing += [f"{locale}: {m.id}" for m in catalog if m.id and not m.string]
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--import-dict",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="merge a Python dict of English -> German strings into the .po first",
    )
    parser.add_argument(
        "--fill-from",
        action="append",
        type=Path,
        default=[],
        metavar="PO",
        help="take translations of still untranslated strings from another .po "
        "(moving strings into a plugin's own catalogue)",
    )
    parser.add_argument(
        "--plugin",
        type=Path,
        metavar="DIR",
        help="refresh a plugin's own catalogue (DIR/translations, domain = DIR's name)",
    )
    args = parser.parse_args(argv)
    for path in args.import_dict:
        if not path.is_file():
            parser.error(f"--import-dict: no such file: {path}")
    if args.plugin is not None:
        package = args.plugin.resolve()
        folder = package / "translations"
        if not folder.is_dir():
            parser.error(f"--plugin: {folder} does not exist; create it (mkdir) to start the plugin's catalogue")
        for locale in LANGUAGES:
            # A plugin whose catalogue is not compiled yet is set aside at start-up, and its
            # declared words could not be read: start with an empty one.
            mo = folder / locale / "LC_MESSAGES" / f"{package.name}.mo"
            if not mo.exists():
                mo.parent.mkdir(parents=True, exist_ok=True)
                with mo.open("wb") as f:
                    write_mo(f, Catalog(locale=locale))
        mapping = folder / "babel.cfg"
        mapping.write_text("[python: **.py]\n[jinja2: **/templates/**.html]\n")
        try:
            template = extract(
                [Path(package.name)],
                folder / f"{package.name}.pot",
                plugin_data_strings(package),
                package.parent,
                mapping,
            )
        finally:
            mapping.unlink()
        missing = update_and_compile(folder, package.name, template, args.import_dict, args.fill_from)
    else:
        template = extract([Path(".")], TRANSLATIONS / "messages.pot", data_strings(), ROOT, ROOT / "babel.cfg")
        missing = update_and_compile(TRANSLATIONS, "messages", template, args.import_dict, args.fill_from)
    for text in missing:
        print("untranslated:", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
