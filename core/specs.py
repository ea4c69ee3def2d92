"""The data a plugin hands to the core: plain frozen dataclasses.

These are part of the public API (re-exported by :mod:`core.api`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Variable:
    """A placeholder an event offers, e.g. ``ticket.title``.

    ``sample`` is shown in the editor and used by previews and dry runs.
    """

    name: str
    description: str
    sample: Any


@dataclass(frozen=True)
class Role:
    """A recipient role an event knows, e.g. ``reporter``."""

    name: str
    description: str


@dataclass(frozen=True)
class EventSpec:
    """An event a plugin can emit.

    ``key`` is global (``TICKET_CREATED``) and must be unique across plugins:
    a duplicate fails at start-up.
    """

    key: str
    label: str
    variables: tuple[Variable, ...] = ()
    roles: tuple[Role, ...] = ()
    description: str = ""

    def sample_payload(self) -> dict:
        """The variables' samples as a nested dict: ``{"ticket": {"id": 7}}``."""
        payload: dict = {}
        for var in self.variables:
            node = payload
            *parents, leaf = var.name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = var.sample
        return payload


@dataclass(frozen=True)
class Recipient:
    """One address a mail goes to; ``language`` picks the template version."""

    address: str
    name: str = ""
    language: str | None = None
    # For sender selection: the user who caused the event, when relevant.
    user_id: int | None = None


@dataclass(frozen=True)
class TemplateSpec:
    """A default template a plugin ships; copied into a tenant when the
    plugin is enabled there (never overwriting the tenant's own edits)."""

    key: str
    language: str
    subject: str
    body_html: str = ""
    body_text: str = ""


@dataclass(frozen=True)
class RuleSpec:
    """A default rule a plugin ships; created inactive on enabling."""

    event: str
    recipient: str
    template_key: str
    name: str = ""


@dataclass(frozen=True)
class TenantRef:
    """What hooks learn about the tenant at hand (never an ORM object)."""

    id: int
    slug: str
    name: str
    language: str
    colour: str = "#1f6feb"
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UserRef:
    """A user of a tenant as plugins see it (never an ORM object)."""

    id: int
    name: str
    email: str
    language: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """A periodic task AUTOMATE runs per tenant (e.g. the inbound poller).

    ``function`` names an importable module-level function taking the tenant
    id, as ``"package.module:function"`` (RQ jobs take primary keys); its
    return value is shown as the run's result, an exception as a failed run.
    ``interval`` is the default in seconds; admins may change it or set a
    cron expression instead. ``key`` is unique per tenant across plugins.
    """

    key: str
    label: str
    function: str
    interval: int = 60
    enabled_by_default: bool = True
    description: str = ""


@dataclass(frozen=True)
class InboundMail:
    """A received mail as plain, already-sanitised data (never raw MIME).

    ``authenticated`` is True only when the receiving server's
    Authentication-Results (from a trusted host) show DMARC/SPF/DKIM passing
    for the From domain; never attribute an unauthenticated mail to a known
    user.
    """

    mailbox: str
    message_id: str
    from_address: str
    from_name: str
    to: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    authenticated: bool = False
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    attachments: tuple["InboundAttachment", ...] = ()


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class InboundResult:
    """What a plugin made of an inbound mail, e.g. ("ticket", "123").

    ``link``: where an admin sees it, a path inside the application
    (e.g. ``/tickets/123``); shown in the mailbox's list of processed mail.
    """

    kind: str
    reference: str
    detail: str = ""
    link: str = ""
