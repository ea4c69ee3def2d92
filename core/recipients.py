"""Recipient references of rules: ``role:NAME``, ``address:a@x[,b@y]``,
``list:NAME``.

Roles are resolved by plugins through ``postwerk_resolve_recipients``; fixed
addresses and the tenant's distribution lists by the core.
"""

from __future__ import annotations

from .mail.mime import HeaderError, check_address
from .plugins import HookFailure, registry
from .specs import Recipient, TenantRef
from .distribution_lists import addresses

KINDS = ("role", "address", "list")


class RecipientError(ValueError):
    pass


def parse(ref: str) -> tuple[str, str]:
    kind, sep, value = (ref or "").partition(":")
    kind, value = kind.strip(), value.strip()
    if not sep or kind not in KINDS or not value:
        raise RecipientError(f"recipient {ref!r} must look like role:NAME, list:NAME or address:someone@example.org")
    if kind == "address":
        for address in _split(value):
            try:
                check_address(address, field="recipient")
            except HeaderError as exc:
                raise RecipientError(str(exc)) from exc
    return kind, value


def _split(value: str) -> list[str]:
    return [a.strip() for a in value.replace(";", ",").split(",") if a.strip()]


def resolve(
    tenant: TenantRef,
    event: str,
    ref: str,
    payload: dict,
    *,
    failures: list[HookFailure] | None = None,
    skipped: list[str] | None = None,
) -> list[Recipient]:
    """The recipients of a rule. A plugin whose role hook raises is left out
    and recorded in ``failures`` (without that list, ``PluginHookError``).
    An address a plugin returns is checked like one an admin enters; a bad
    one is left out and said why in ``skipped``, naming the plugin."""
    kind, value = parse(ref)
    if kind == "address":
        found = [Recipient(address=a) for a in _split(value)]
    elif kind == "list":
        members = addresses(tenant.id, value)
        if not members:
            raise RecipientError(f"there is no distribution list named {value!r} (or it is empty)")
        found = [Recipient(address=a) for a in members]
    else:
        found = []
        for plugin, answer in registry().call_each(
            "postwerk_resolve_recipients",
            tenant.id,
            failures=failures,
            tenant=tenant,
            event=event,
            role=value,
            payload=payload,
        ):
            found.extend(_checked(plugin, answer or (), skipped))
    unique: dict[str, Recipient] = {}
    for r in found:
        unique.setdefault(r.address.lower(), r)
    return list(unique.values())


def _checked(plugin: str, answer, skipped: list[str] | None) -> list[Recipient]:
    good = []
    for person in answer:
        try:
            if not isinstance(person, Recipient):
                raise HeaderError(f"{person!r} is not a core.api.Recipient")
            check_address(person.address, field="recipient")
        except HeaderError as exc:
            reason = f"plugin '{plugin}' returned a recipient that was skipped: {exc}"
            if skipped is None:
                raise RecipientError(reason) from exc
            skipped.append(reason)
            continue
        good.append(person)
    return good
