"""The core's own plugin: placeholders every event has. Essential: it cannot
be disabled, like pytest's essential plugins."""
from __future__ import annotations

from .models.types import utcnow
from .plugins import hookimpl


class CorePlugin:
    """Placeholders every event offers: tenant and time."""

    essential = True

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {
            "tenant": {"name": tenant.name, "slug": tenant.slug, "colour": tenant.colour},
            "now": utcnow(),
        }
