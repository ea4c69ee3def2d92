"""Send-time conditions: "send the reminder only if the ticket is still open".

A rule may name a condition its event offers (``EventSpec.conditions``); the
rule's messages carry it, and when one is due the delivery worker asks the
plugins through ``postwerk_send_condition`` before it claims a connection for
it. Asked at send time, not at expansion: 24 hours later the ticket may be
closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..extensions import db
from ..models import Event
from ..plugins import HookFailure, registry
from ..specs import EventSpec, TenantRef

HOOK = "postwerk_send_condition"


@dataclass(frozen=True)
class Verdict:
    #: True send, False cancel, None: nobody could say (see ``reason``).
    send: bool | None
    reason: str = ""
    #: A plugin raised: try again later, like a temporary SMTP error.
    temporary: bool = False


def offered(spec: EventSpec | None) -> dict[str, str]:
    """{name: description} of the conditions an event offers."""
    return {c.name: c.description for c in (spec.conditions if spec else ())}


def describe(event_key: str | None, condition: str) -> str:
    """The condition's description (English, as declared), or its name."""
    try:
        spec, _ = registry().event(event_key or "")
    except (LookupError, PermissionError):  # unknown or its plugin set aside
        return condition
    return offered(spec).get(condition, condition)


def check(tenant: TenantRef, event_id: int | None, event_key: str | None, condition: str) -> Verdict:
    """Ask the tenant's enabled plugins whether a message may go out now."""
    event = db.session.get(Event, event_id) if event_id is not None else None
    if event is None or event.tenant_id != tenant.id:
        return Verdict(None, f"the send-time condition '{condition}' cannot be checked: the event is gone")
    return ask(tenant, event.key, condition, event.payload)


def ask(tenant: TenantRef, event_key: str, condition: str, payload: dict) -> Verdict:
    """The plugins' answer for an event's payload, now (the delivery worker
    when a message is due; the dry run for its sample or a past event)."""
    failures: list[HookFailure] = []
    answer = registry().call_first(
        HOOK, tenant.id, failures=failures, tenant=tenant, event=event_key, condition=condition, payload=payload
    )
    if answer is None and failures:
        return Verdict(
            None, "the send-time condition could not be checked: " + "; ".join(map(str, failures)), temporary=True
        )
    if answer is None:
        return Verdict(None, f"no enabled plugin checks the send-time condition '{condition}' of {event_key}")
    if answer:
        return Verdict(True)
    return Verdict(False, f"not sent: the condition '{describe(event_key, condition)}' no longer holds")
