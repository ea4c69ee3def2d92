"""What the tenant's enabled plugins offer: events, their placeholders, roles."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext

from ..mail import variables
from ..plugin_state import paused_events
from ..plugins import registry
from ..specs import EventSpec
from ..web.words import tr
from .scope import tenant_id


@dataclass(frozen=True)
class Placeholder:
    name: str
    description: str
    sample: object


def enabled_events() -> dict[str, list[EventSpec]]:
    """The events of plugins enabled for this tenant, by plugin (sorted)."""
    reg = registry()
    enabled = reg.enabled_plugins(tenant_id())
    grouped: dict[str, list[EventSpec]] = {}
    for _key, (spec, owner) in sorted(reg.events.items()):
        if owner in enabled:
            grouped.setdefault(owner, []).append(spec)
    return grouped


def event_spec(key: str) -> EventSpec | None:
    found = registry().events.get(key)
    return found[0] if found else None


def event_choices() -> list[tuple[str, str]]:
    return [(spec.key, f"{tr(spec.label)} ({spec.key})") for specs in enabled_events().values() for spec in specs]


def grouped_event_choices() -> dict[str, list[tuple[str, str]]]:
    """For a select with one <optgroup> per plugin."""
    return {
        plugin: [(spec.key, f"{tr(spec.label)} ({spec.key})") for spec in specs]
        for plugin, specs in enabled_events().items()
    }


def placeholders(event: str, language: str | None = None) -> list[Placeholder]:
    """The placeholders a template for ``event`` may use, with samples in the template's ``language``."""
    spec = event_spec(event)
    if spec is None:
        return []
    found = [Placeholder(v.name, tr(v.description), v.sample_in(language)) for v in spec.variables]
    declared = set(variables.declared(event))
    found += [Placeholder(name, tr(text), "") for name, text in variables.CORE_VARIABLES.items() if name in declared]
    return found


def why_not_firing(event: str) -> str | None:
    """Why rules of ``event`` cannot fire for this tenant, or None.

    A disabled plugin's reason comes from ``paused_events``, so the rules
    page and the plugins page say the same thing."""
    if event not in registry().events:
        return gettext("no installed plugin declares the event %(event)s", event=event)
    return paused_events(tenant_id()).get(event)
