"""A plugin ships its own message catalogue, a Babel domain of its own
(``Plugin.translations``): its labels, task and rule names read German on a
German page like the built-ins' (issue 11)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from core.api import EventSpec, Plugin, TaskSpec, hookimpl
from core.app import create_app
from core.extensions import db
from core.plugins import registry
from tests.helpers import login, make_tenant

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "maintenance"


@pytest.fixture
def maintenance_app(config):
    sys.path.insert(0, str(EXAMPLE))
    try:
        from postwerk_maintenance.plugin import MaintenancePlugin
    finally:
        sys.path.remove(str(EXAMPLE))
    app = create_app(config, extra_plugins={"maintenance": MaintenancePlugin})
    with app.app_context():
        yield app
        db.engine.dispose()


def test_the_example_plugins_label_and_rule_name_read_german(maintenance_app):
    assert registry().broken() == {}
    make_tenant("acme", plugins=("maintenance",), activate_rules=False)
    client = maintenance_app.test_client()
    login(client)
    german = client.get("/settings/admin/mail/rules", headers={"Accept-Language": "de"}).get_data(as_text=True)
    english = client.get("/settings/admin/mail/rules", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Bewohner über Wartung informieren" in german
    assert "Wartung angekündigt" in german
    assert "Tell the residents about maintenance" not in german
    assert "Tell the residents about maintenance" in english
    assert "Wartung angekündigt" not in english
    # The core's own words are still there beside the plugin's.
    assert "Regeln" in german


def _catalogue(folder: Path, domain: str, strings: dict[str, str]) -> None:
    target = folder / "de" / "LC_MESSAGES"
    target.mkdir(parents=True)
    catalog = Catalog(locale="de")
    for msgid, msgstr in strings.items():
        catalog.add(msgid, msgstr)
    with (target / f"{domain}.mo").open("wb") as f:
        write_mo(f, catalog)


def test_a_plugins_task_name_reads_german_on_automate(config, tmp_path):
    _catalogue(
        tmp_path,
        "parking",
        {"Free the expired spaces": "Abgelaufene Stellplätze freigeben", "Saved.": "Von einem Plugin überschrieben"},
    )

    class ParkingPlugin(Plugin):
        """Parking spaces."""

        translations = str(tmp_path)
        translation_domain = "parking"

        @hookimpl
        def postwerk_register_events(self):
            return [EventSpec("PARKING_FREED", "Space freed")]

        @hookimpl
        def postwerk_tasks(self):
            return [TaskSpec("parking_free", "Free the expired spaces", "json:dumps", interval=3600)]

        @hookimpl
        def postwerk_default_rules(self):
            return []

    app = create_app(config, extra_plugins={"parking": ParkingPlugin})
    with app.app_context():
        assert registry().broken() == {}
        make_tenant("acme", plugins=("parking",))
        client = app.test_client()
        login(client)
        page = client.get("/settings/admin/automate/", headers={"Accept-Language": "de"}).get_data(as_text=True)
        assert "Abgelaufene Stellplätze freigeben" in page
        # The core's catalogue wins over a plugin's for the same English text.
        from flask_babel import force_locale, gettext

        with app.test_request_context(), force_locale("de"):
            assert gettext("Saved.") == "Gespeichert."
        db.engine.dispose()


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda folder: None, "is not a folder"),
        (lambda folder: folder.mkdir(), "has no compiled catalogue"),
    ],
)
def test_a_wrong_translations_folder_sets_the_plugin_aside_with_the_reason(config, tmp_path, make, reason):
    folder = tmp_path / "translations"
    make(folder)

    class Misspelt(Plugin):
        translations = str(folder)

    app = create_app(config, extra_plugins={"misspelt": Misspelt})
    with app.app_context():
        assert reason in registry().broken()["misspelt"]
        db.engine.dispose()
