"""Collecting placeholder values for an event from every enabled plugin."""

from __future__ import annotations

from typing import Any

from ..plugins import HookFailure, registry
from ..specs import TenantRef


class VariableConflictError(RuntimeError):
    pass


def collect(
    tenant: TenantRef, event: str, payload: dict[str, Any], *, failures: list[HookFailure] | None = None
) -> dict[str, Any]:
    """The placeholder values of every enabled plugin, merged. A plugin whose
    hook raises is left out and recorded in ``failures`` (without that list,
    ``PluginHookError`` names it)."""
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for plugin, answer in registry().call_each(
        "postwerk_template_variables", tenant.id, failures=failures, tenant=tenant, event=event, payload=payload
    ):
        for name, value in (answer or {}).items():
            if name in merged:
                raise VariableConflictError(
                    f"plugins {owner[name]!r} and {plugin!r} both provide the placeholder namespace {name!r}"
                )
            merged[name] = value
            owner[name] = plugin
    return merged


def declared(event: str) -> list[str]:
    """Placeholder names an event declares, plus the core's own."""
    spec, _ = registry().event(event)
    return [v.name for v in spec.variables] + list(CORE_VARIABLES)


# Provided for every event by the core plugin (core.builtin).
CORE_VARIABLES = {
    "tenant.name": "name of the tenant",
    "tenant.slug": "short name of the tenant",
    "tenant.colour": "brand colour of the tenant (#rrggbb)",
    "now": "date and time of rendering (UTC)",
    "recipient.address": "the address this mail goes to",
    "recipient.name": "the recipient's name, when known",
    "recipient.language": "the language of this mail (de or en)",
}
