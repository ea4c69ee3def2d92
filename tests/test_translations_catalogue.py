"""The German texts live in gettext catalogues (.po), not in Python dicts;
scripts/translations.py updates them and folds a branch's dict in (issue 17)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CORE_PO = ROOT / "core" / "translations" / "de" / "LC_MESSAGES" / "messages.po"


def script():
    spec = importlib.util.spec_from_file_location("translations_script", ROOT / "scripts" / "translations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_python_dict_of_german_strings_is_left():
    assert not list((ROOT / "core" / "translations").glob("de_strings*.py"))
    assert "DE = {" not in (ROOT / "core" / "automate" / "labels.py").read_text()


def test_the_po_is_the_source_of_the_compiled_catalogue():
    with CORE_PO.open("rb") as f:
        source = {m.id: m.string for m in read_po(f) if m.id}
    with CORE_PO.with_suffix(".mo").open("rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    translated = {k: v for k, v in source.items() if v}
    assert translated == compiled
    assert source["Run now"] == "Jetzt ausführen"  # once automate/labels.py's dict
    assert source["worked"] == "hat geklappt"  # was inside an f-string, never extracted


def test_import_dict_merges_a_branch_dict_into_the_po(tmp_path):
    module = script()
    branch = tmp_path / "de_strings_topic.py"
    branch.write_text(
        '"""A branch\'s strings."""\nDE_TOPIC = {"Digest": "Zusammenfassung", "Run now": "Los"}\n'
        'NOT_STRINGS = {"a": 1}\n'
    )
    folder = tmp_path / "translations"
    (folder / "de" / "LC_MESSAGES").mkdir(parents=True)
    old = Catalog(locale="de")
    old.add("Run now", "Jetzt ausführen")
    old.add("Gone", "Weg")
    from babel.messages.pofile import write_po

    with (folder / "de" / "LC_MESSAGES" / "messages.po").open("wb") as f:
        write_po(f, old)
    template = Catalog()
    for text in ("Run now", "Digest", "New text"):
        template.add(text)

    missing = module.update_and_compile(folder, "messages", template, [branch])

    with (folder / "de" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        result = read_po(f)
    assert result["Digest"].string == "Zusammenfassung"
    assert result["Run now"].string == "Los"  # the import overwrites
    assert result["New text"].string == ""
    assert "Gone" in result.obsolete  # kept as #~, never lost
    assert missing == ["de: New text"]
    with (folder / "de" / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        assert {m.id: m.string for m in read_mo(f) if m.id}["Digest"] == "Zusammenfassung"


def test_import_dict_refuses_a_file_without_strings(tmp_path):
    import pytest

    empty = tmp_path / "nothing.py"
    empty.write_text("X = 1\n")
    with pytest.raises(SystemExit, match="no dict of English -> German strings"):
        script().dict_strings(empty)


def test_the_compiled_catalogue_follows_a_hand_edited_po_and_replaces_a_placeholder(tmp_path):
    """A translator edits the .po by hand, and a plugin's first run leaves an
    empty placeholder .mo: both used to keep a stale .mo, since the .po's
    strings had not changed in the update."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import write_po

    module = script()
    folder = tmp_path / "translations"
    target = folder / "de" / "LC_MESSAGES"
    target.mkdir(parents=True)
    edited = Catalog(locale="de")
    edited.add("Parking space", "Stellplatz")
    with (target / "parking.po").open("wb") as f:
        write_po(f, edited)
    with (target / "parking.mo").open("wb") as f:
        write_mo(f, Catalog(locale="de"))  # the placeholder
    template = Catalog()
    template.add("Parking space")

    module.update_and_compile(folder, "parking", template, [])

    with (target / "parking.mo").open("rb") as f:
        assert {m.id: m.string for m in read_mo(f) if m.id} == {"Parking space": "Stellplatz"}
    before = (target / "parking.mo").read_bytes()
    module.update_and_compile(folder, "parking", template, [])
    assert (target / "parking.mo").read_bytes() == before  # nothing to do: nothing written
