"""The hooks a Postwerk plugin implements.

This module is the plugin author's reference: every docstring here is the
documentation of its hook (``docs/hooks.md`` is rendered from it by
``python -m core.hookdocs``, and a test keeps the two equal). Implement a hook by decorating a method of your plugin class with
``core.api.hookimpl`` and naming it exactly like the spec. A ``postwerk_*``
method that is misspelled or lacks ``@hookimpl``, a raising registration
hook or a duplicate event key sets the plugin aside at start-up, marked
broken with the reason (``postwerk plugins check`` names every problem;
``POSTWERK_STRICT_PLUGINS=1`` makes it stop start-up instead). A hook that
raises at run time fails alone: it is recorded with the plugin's name and
never stops another plugin's or rule's mail (see docs/plugins.md, "When a
hook raises").

Hooks are called only on plugins enabled for the tenant at hand, except the
registration hooks marked "all installed plugins", which describe what a
plugin offers whether or not a tenant uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from flask import Blueprint

    from .specs import (
        EventSpec,
        InboundMail,
        InboundResult,
        MailAttachment,
        MailboxLogin,
        Recipient,
        ReportSpec,
        RuleSpec,
        TaskSpec,
        TemplateSpec,
        TenantRef,
    )

PROJECT = "postwerk"
hookspec = pluggy.HookspecMarker(PROJECT)

#: The version of these hooks, ``MAJOR.MINOR`` (``core.api.HOOK_API_VERSION``):
#: MINOR grows when a hook or an argument is added, MAJOR when one is removed
#: or changes its meaning. A plugin states the range it supports with
#: ``requires_hook_api``. A hook to be removed is first deprecated for at
#: least one minor version: ``@hookspec(warn_on_impl=deprecated(...))``.
HOOK_API_VERSION = "1.0"


def deprecated(hook: str, since: str, instead: str) -> DeprecationWarning:
    """The warning a deprecated hook's spec carries (pluggy's ``warn_on_impl``)."""
    return DeprecationWarning(
        f"{hook} is deprecated since hook API {since} and will be removed in the next major "
        f"version; implement {instead} instead"
    )


# --- Events ------------------------------------------------------------------


@hookspec
def postwerk_register_events() -> list[EventSpec]:
    """Return the events this plugin emits (all installed plugins).

    Each :class:`~core.api.EventSpec` lists the variables the event offers
    (with a sample value and a description, shown in the template editor and
    used by previews and dry runs) and the recipient roles it knows. Event
    keys are global: of two plugins declaring the same key, the second is
    set aside as broken, and emitting a key nobody declared is an error.
    """


# --- Recipients --------------------------------------------------------------


@hookspec
def postwerk_resolve_recipients(
    tenant: TenantRef, event: str, role: str, payload: dict[str, Any]
) -> list[Recipient] | None:
    """Return the recipients for ``role`` of an ``event``, or ``None`` when the
    role is not yours.

    Called on every enabled plugin; the lists are merged in plugin order and
    duplicate addresses dropped. A plugin may answer for roles of another
    plugin's events (for example a caretaker role on ticket events). Set
    ``Recipient.language`` to choose the template language for that person.
    """


# --- Template variables ------------------------------------------------------


@hookspec
def postwerk_template_variables(tenant: TenantRef, event: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Return placeholder values for an event as a nested dict, e.g.
    ``{"ticket": {"id": 7, "title": "Heizung"}}`` for ``{{ ticket.title }}``.

    Called on every enabled plugin and merged; two plugins returning the same
    top-level name for one event is an error (namespaces belong to one
    plugin). Values must be plain data (str, numbers, bools, dates, lists,
    dicts): templates run in a sandbox and never see ORM objects.
    """


# --- Defaults a plugin ships -------------------------------------------------


@hookspec
def postwerk_default_templates() -> list[TemplateSpec]:
    """Return default templates, one per key and language (``de``, ``en``).

    Copied into a tenant when the plugin is enabled there; a tenant's own
    edits are never overwritten.
    """


@hookspec
def postwerk_default_rules() -> list[RuleSpec]:
    """Return default rules; they are created inactive when the plugin is
    enabled for a tenant, so nothing is sent before an admin says so."""


# --- Web -------------------------------------------------------------------


@hookspec
def postwerk_blueprints() -> list[Blueprint]:
    """Return Flask blueprints to register at start-up (all installed plugins).

    Views must check that the plugin is enabled for the tenant of the
    request: decorate them with ``core.api.plugin_enabled_required(NAME)``.
    """


@hookspec
def postwerk_admin_menu() -> list:
    """Return navigation entries (``core.api.MenuEntry(label, endpoint)``)
    shown to users of tenants that enabled this plugin; ``area="settings"``
    puts an admin page under Settings instead of the top bar."""


# --- Delivery ----------------------------------------------------------------


@hookspec
def postwerk_delivery_outcome(tenant: TenantRef, message_id: int, status: str, detail: str) -> None:
    """Called after a message reached a final state: ``SENT``, ``FAILED`` or
    ``UNKNOWN``, with the server's words in ``detail``; and ``BOUNCED`` when a
    bounce returned a sent message later (the diagnostic in ``detail``).

    Runs inside the delivery worker (for ``BOUNCED``: the inbound poller)
    after the state was committed; an exception here is recorded in the
    notification log with the plugin's name, does not change the message and
    does not keep other plugins from hearing of it.
    """


@hookspec
def postwerk_mail_attachments(tenant: TenantRef, event: str, payload: dict[str, Any]) -> list[MailAttachment] | None:
    """Return files to attach to every mail of an event (e.g. the signed
    contract as a PDF on ``CONTRACT_SIGNED``), or ``None``.

    Called once per event by the expander, only when at least one rule of
    the event makes mail; the answers of all enabled plugins are merged, in
    plugin order, after the files given to ``emit(..., attachments=)``. Make
    the file from the payload (the snapshot of when the event happened). Each
    file is stored once per tenant by its content and referenced from every
    message that carries it; a resend carries it too. Limits: at most
    ``MAX_ATTACHMENTS`` files and ``POSTWERK_MAX_ATTACHMENT_BYTES`` together per
    mail; a file name without a path, a type like ``application/pdf``. A
    hook that raises or breaks a limit holds the event's mail back (FAILED
    event with the plugin named, run again later), it never sends the mail
    without the file.
    """


@hookspec(firstresult=True)
def postwerk_send_condition(tenant: TenantRef, event: str, condition: str, payload: dict[str, Any]) -> bool | None:
    """Answer whether a delayed mail may still go out: ``True`` send it,
    ``False`` cancel it, ``None`` when ``condition`` is not yours.

    Asked by the delivery worker when a message whose rule has a "send only
    if" condition is due, with the event's key and payload as emitted (read
    the current state yourself: "is ticket 7 still open?"). The conditions an
    event offers are declared in its ``EventSpec.conditions``. ``False``
    makes the message CANCELLED with the condition named as the reason
    (visible in the queue). An exception is recorded with the plugin's name
    and the message retried like a temporary SMTP error; when no enabled
    plugin answers, the message is FAILED with that reason (resend sends it
    after all). Keep it fast: one query, no network.
    """


# --- AUTOMATE ----------------------------------------------------------------


@hookspec
def postwerk_tasks() -> list[TaskSpec]:
    """Return the periodic tasks this plugin brings to AUTOMATE, the task
    scheduler (all installed plugins; a task runs only for tenants that
    enabled the plugin, while AUTOMATE is active and the task enabled).

    Each :class:`~core.api.TaskSpec` names a module-level function
    ``"package.module:function"`` that takes the tenant id; its return value
    (a short text) is the run's result, an exception a failed run. The core's
    own tasks (mail worker, sweeper, retention) come through this hook too.
    """


@hookspec
def postwerk_reports() -> list[ReportSpec]:
    """Return the reports this plugin offers for scheduled report mails (all
    installed plugins; offered to tenants that enabled the plugin).

    An admin schedules a report under AUTOMATE → Reports with a cron
    expression, recipients and a language; each run calls the
    :class:`~core.api.ReportSpec`'s function with ``(tenant, language)``,
    renders the returned :class:`~core.api.ReportTable` as a PDF in the
    tenant's branding and mails it as an attachment. Runs are AUTOMATE task
    runs (task ``report:ID``): an exception in the function is a failed run
    with its reason. Keep the function to one query's worth of work.
    """


# --- Inbound mail ------------------------------------------------------------


@hookspec(firstresult=True)
def postwerk_inbound_mail(tenant: TenantRef, mail: InboundMail) -> InboundResult | None:
    """Handle one inbound mail, or return ``None`` when it is not yours.

    The first result wins and the plugins after it are not asked, in
    pluggy's calling order: the plugin registered last is asked first (mark
    your hookimpl ``tryfirst=True`` or ``trylast=True`` to change that).
    Called inside a database transaction that the caller commits together
    with the record that this mail was processed, so a crash never creates a
    ticket twice. Auto-replies, bulk and list mail never reach this hook.
    """


@hookspec
def postwerk_known_sender(tenant: TenantRef, address: str) -> bool | None:
    """Return True when ``address`` (lower case) belongs to a person this
    plugin knows for the tenant (a ticket's reporter, a contract partner, a
    contact); else None. Asked for mailboxes that do not allow unknown
    senders; the tenant's users are known without asking.
    """


# --- Outgoing mail -------------------------------------------------------------


@hookspec(firstresult=True)
def postwerk_mailbox_credentials(tenant: TenantRef) -> MailboxLogin | tuple[str, str] | None:
    """Return the tenant's incoming-mailbox login as a ``MailboxLogin(username,
    password, host)``, or ``None`` when you keep none for it.

    Used when a tenant chooses "same login as the incoming mailbox" for
    outgoing mail: the SMTP server is then logged into with exactly these
    credentials. ``host`` is the mailbox's server, the one the password was
    saved for: the core sends the password only to an SMTP server on that
    host, or to the one SMTP server (host and port) a tenant admin confirmed
    by entering the mailbox password in the SMTP settings. Anywhere else it
    refuses, in the settings form, in "Test connection" and at delivery, so
    a changed SMTP host never receives the mailbox password. A bare
    ``(username, password)`` tuple (plugins written before ``host``) is
    still accepted, and always needs that confirmation.

    The plugin that manages incoming mailboxes implements it (the core never
    imports a plugin); the first answer that is not ``None`` wins (pluggy's
    calling order, as for ``postwerk_inbound_mail``). Return the plain
    password (decrypt it yourself); it is used for one connection and never
    stored or logged by the core.
    """
