"""The navigation: the core's pages plus what enabled plugins add.

Two areas: ``main`` (the top bar: the business pages everyone uses) and
``settings`` (the admin's sub-navigation under "Settings").
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import gettext
from flask_login import current_user

from ..plugins import registry


@dataclass(frozen=True)
class MenuEntry:
    """A navigation entry a plugin adds (``postwerk_admin_menu``), shown to
    users of tenants that enabled the plugin."""

    #: The text, in English; translated when the catalogue knows it.
    label: str
    #: The Flask endpoint, e.g. ``"parking.index"``.
    endpoint: str
    #: ``"main"``: the top bar; ``"settings"``: the admin's sub-navigation under Settings.
    area: str = "main"

    @property
    def url(self) -> str:
        return url_for(self.endpoint)

    @property
    def text(self) -> str:
        """The label in the user's language, from the plugin's own catalogue (``Plugin.translations``;
        ``scripts/translations.py`` extracts ``MenuEntry("...")`` labels)."""
        return gettext(self.label)


def menu_entries(area: str = "main") -> list[MenuEntry]:
    if not current_user.is_authenticated:
        return []
    entries: list[MenuEntry] = []
    # A plugin whose menu hook raises loses its entries, never the page.
    for _, answer in registry().call_each("postwerk_admin_menu", current_user.tenant_id, failures=[]):
        entries.extend(entry for entry in answer or () if entry.area == area)
    return entries
