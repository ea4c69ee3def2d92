"""The core's own plugin: placeholders every event has and AUTOMATE's core
tasks. Essential: it cannot be disabled, like pytest's essential plugins."""

from __future__ import annotations

from .models.types import utcnow
from .plugins import hookimpl
from .web.menu import MenuEntry
from .automate.registry import CORE_TASKS


class CorePlugin:
    """Placeholders every event offers: tenant and time."""

    essential = True

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {
            "tenant": {"name": tenant.name, "slug": tenant.slug, "colour": tenant.colour},
            "now": utcnow(),
        }

    @hookimpl
    def postwerk_admin_menu(self):
        return [MenuEntry("AUTOMATE", "automate.index", area="settings")]

    @hookimpl
    def postwerk_tasks(self):
        return list(CORE_TASKS)
