"""The data a plugin hands to the core: plain frozen dataclasses.

These are part of the public API (re-exported by :mod:`core.api`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Variable:
    """A placeholder an event offers, e.g. ``ticket.title``.

    ``sample`` is shown in the editor and used by previews and dry runs.
    """

    #: Dotted placeholder name, ``ticket.title``: the payload's nested keys.
    #: A list placeholder declares its items by its sample (``["a@x"]``:
    #: strings; ``[{"name": "Max"}]``: objects with exactly these keys).
    name: str
    #: One line for the template editor, the plugins page and the API description.
    description: str
    #: Example value; its type is the type the HTTP API expects (``None``: anything).
    sample: Any
    #: The example in other languages, by language code
    #: (``{"en": "Bathroom heating is out"}``): the template editor's preview
    #: and placeholder list of an English template use it, so a sample reads
    #: in the template's language. A language not listed gets ``sample``.
    samples: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)

    def sample_in(self, language: str | None) -> Any:
        """The sample for a template in ``language``."""
        if language and self.samples and language in self.samples:
            return self.samples[language]
        return self.sample


@dataclass(frozen=True)
class Role:
    """A recipient role an event knows, e.g. ``reporter``."""

    #: Used in rules as ``role:NAME``.
    name: str
    #: Shown in the rule editor and on the plugins page.
    description: str


@dataclass(frozen=True)
class SendCondition:
    """A condition an event offers for delayed mail, checked when the mail is
    due ("only if the ticket is still open"); the plugin answers it through
    ``postwerk_send_condition``."""

    #: Chosen in a rule's "send only if" field, e.g. ``ticket_open``.
    name: str
    #: Shown in the rule editor and in the reason of a mail it cancelled.
    description: str


@dataclass(frozen=True)
class EventSpec:
    """An event a plugin can emit.

    ``key`` is global (``TICKET_CREATED``) and must be unique across plugins:
    the second plugin declaring a key is set aside as broken.
    """

    #: Global key, upper case (``TICKET_CREATED``).
    key: str
    #: Human name shown to admins.
    label: str
    #: The placeholders the event offers (its payload contract).
    variables: tuple[Variable, ...] = ()
    #: The recipient roles it knows.
    roles: tuple[Role, ...] = ()
    #: Longer text for the plugins page (optional).
    description: str = ""
    #: Conditions a rule's mail may be held to at send time (``SendCondition``).
    conditions: tuple[SendCondition, ...] = ()

    def sample_payload(self, language: str | None = None) -> dict:
        """The variables' samples as a nested dict: ``{"ticket": {"id": 7}}``,
        in ``language`` where a variable has a sample for it (``Variable.samples``)."""
        payload: dict = {}
        for var in self.variables:
            node = payload
            *parents, leaf = var.name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = var.sample_in(language)
        return payload


@dataclass(frozen=True)
class Recipient:
    """One address a mail goes to; ``language`` picks the template version."""

    #: One e-mail address, checked like an admin-entered one (a bad one is
    #: skipped and reported).
    address: str
    #: Display name, ``{{ recipient.name }}`` in templates.
    name: str = ""
    #: ``de`` or ``en`` picks the template version; ``None``: the tenant's language.
    language: str | None = None
    #: For sender selection: the user who caused the event, when relevant.
    user_id: int | None = None


@dataclass(frozen=True)
class TemplateSpec:
    """A default template a plugin ships; copied into a tenant when the
    plugin is enabled there (never overwriting the tenant's own edits)."""

    #: Template key that rules name (``ticket_created``).
    key: str
    #: ``de`` or ``en``; ship both.
    language: str
    #: Jinja subject line (sandboxed, strict undefined).
    subject: str
    #: Jinja HTML body; wrap it in ``branded_html()``.
    body_html: str = ""
    #: Jinja text body; empty: derived from the HTML.
    body_text: str = ""


@dataclass(frozen=True)
class RuleSpec:
    """A default rule a plugin ships; created inactive on enabling."""

    #: The event key the rule fires on.
    event: str
    #: ``role:NAME``, ``address:a@x`` or ``list:NAME``.
    recipient: str
    #: The template the rule sends.
    template_key: str
    #: Shown in the rules list.
    name: str = ""


@dataclass(frozen=True)
class TenantRef:
    """What hooks learn about the tenant at hand (never an ORM object)."""

    #: The tenant's id (scope every query by it).
    id: int
    #: Short name, used in URLs.
    slug: str
    #: Display name.
    name: str
    #: Default language of the tenant's mail (``de`` or ``en``).
    language: str
    #: Brand colour ``#rrggbb`` (used by ``branded_html``).
    colour: str = "#1f6feb"
    #: Further plain data about the tenant (read-only).
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class UserRef:
    """A user of a tenant as plugins see it (never an ORM object)."""

    #: The user's id.
    id: int
    #: Display name.
    name: str
    #: Log-in and mail address.
    email: str
    #: Preferred language, or empty.
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

    #: Unique per tenant across plugins.
    key: str
    #: Shown on the AUTOMATE page.
    label: str
    #: ``"package.module:function"`` taking the tenant id.
    function: str
    #: Default seconds between runs (admins may change it or use cron).
    interval: int = 60
    #: Whether a new tenant's task starts switched on.
    enabled_by_default: bool = True
    #: One line on the AUTOMATE page.
    description: str = ""


@dataclass(frozen=True)
class ReportTable:
    """What a report function returns: a title and a table, rendered as a
    PDF in the tenant's branding by the core."""

    #: The report's heading, in the language asked for.
    title: str
    #: The column headings.
    columns: tuple[str, ...]
    #: The rows: one value per column (str, numbers, dates; shown as text).
    rows: tuple[tuple, ...]
    #: One line under the title (the period, a count), or empty.
    summary: str = ""


@dataclass(frozen=True)
class ReportSpec:
    """A report a plugin offers for scheduled report mails (AUTOMATE).

    ``function`` names a module-level function ``"package.module:function"``
    taking ``(tenant: TenantRef, language: str)`` and returning a
    ``ReportTable``; ``key`` is unique across plugins.
    """

    #: Unique across plugins, e.g. ``ticket.open_this_week``.
    key: str
    #: Shown to admins ("Open tickets this week").
    label: str
    #: ``"package.module:function"`` taking (tenant, language).
    function: str
    #: One line for the admin page.
    description: str = ""


@dataclass(frozen=True)
class InboundMail:
    """A received mail as plain, already-sanitised data (never raw MIME).

    ``authenticated`` is True only when the receiving server's
    Authentication-Results (from the tenant's trusted host) show DMARC
    passing for the From domain. ``sender_trusted`` applies the tenant's
    trust policy on top; attribute a mail to a known user only when it is
    True.
    """

    #: Name of the mailbox it came from.
    mailbox: str
    #: The Message-ID header.
    message_id: str
    #: The single From address.
    from_address: str
    #: The From display name.
    from_name: str
    #: The To addresses.
    to: tuple[str, ...]
    #: The decoded subject.
    subject: str
    #: The text body (derived from HTML when there is none).
    text: str
    #: The sanitised HTML body, or empty.
    html: str = ""
    #: DMARC/SPF/DKIM passed for the From domain (see above).
    authenticated: bool = False
    #: The tenant's trust policy lets this mail speak for its From address:
    #: it is authenticated, or the tenant accepts unauthenticated mail.
    #: Attribute the mail to a known person only when this is True.
    sender_trusted: bool = False
    #: The In-Reply-To header.
    in_reply_to: str = ""
    #: The References header's Message-IDs.
    references: tuple[str, ...] = ()
    #: The attachments (``InboundAttachment``).
    attachments: tuple["InboundAttachment", ...] = ()


@dataclass(frozen=True)
class InboundAttachment:
    """One attachment of an inbound mail, decoded."""

    #: The sanitised file name.
    filename: str
    #: The MIME type, e.g. ``application/pdf``.
    content_type: str
    #: The decoded bytes.
    content: bytes


@dataclass(frozen=True)
class MailAttachment:
    """A file attached to outgoing mail (``postwerk_mail_attachments``,
    ``emit(..., attachments=)``). Stored once per tenant by its content and
    referenced from every message that carries it."""

    #: The file name the recipient sees, without a path (``Vertrag-MV-17.pdf``).
    filename: str
    #: The MIME type, e.g. ``application/pdf``.
    content_type: str
    #: The bytes.
    content: bytes


@dataclass(frozen=True)
class InboundResult:
    """What a plugin made of an inbound mail, e.g. ("ticket", "123").

    ``link``: where an admin sees it, a path inside the application
    (e.g. ``/tickets/123``); shown in the mailbox's list of processed mail.
    """

    #: What was made of it, e.g. ``ticket`` or ``comment``.
    kind: str
    #: Its id, e.g. ``"123"``.
    reference: str
    #: A short text for the mailbox's log.
    detail: str = ""
    #: Where an admin sees it: a path inside the application, e.g. ``/tickets/123``.
    link: str = ""


@dataclass(frozen=True)
class MailboxLogin:
    """An incoming mailbox's login, for "same login as the incoming mailbox"
    on the sending side (``postwerk_mailbox_credentials``)."""

    #: The user name the mailbox's server knows.
    username: str
    #: The plain password (decrypt it yourself); the core uses it for one
    #: connection and never stores or logs it.
    password: str = field(repr=False)
    #: The host name of the mailbox's server, the one the password was saved
    #: for. The core sends the password to an SMTP server of that host only,
    #: unless the admin confirmed another one. Empty: unknown, so always ask.
    host: str = ""
