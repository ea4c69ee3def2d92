"""The navigation: the core's pages plus what enabled plugins add."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_login import current_user

from ..plugins import registry


@dataclass(frozen=True)
class MenuEntry:
    label: str
    endpoint: str

    @property
    def url(self) -> str:
        return url_for(self.endpoint)


def menu_entries() -> list[MenuEntry]:
    if not current_user.is_authenticated:
        return []
    entries: list[MenuEntry] = []
    for answer in registry().hook("postwerk_admin_menu", current_user.tenant_id)():
        entries.extend(answer or ())
    return entries
