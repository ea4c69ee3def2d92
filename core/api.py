"""The public face of the core for plugins.

A plugin imports from here and nowhere else in ``core`` -- the built-in
plugins included -- so a third-party plugin has exactly the same tools.
"""
from __future__ import annotations

from .bounces import announce_bounces, record_bounce
from .crypto import SecretError, decrypt, encrypt
from .distribution_lists import addresses as distribution_list
from .events import PayloadError, emit
from .extensions import db
from .mail.deadline import Deadline
from .mail.layout import branded_html, branded_text
from .mail.mime import HeaderError as AddressError
from .mail.mime import check_address
from .mail.transport import tls_context
from .metrics import INBOUND
from .models import Event, Message, User
from .models.types import UTCDateTime, utcnow
from .plugins import (ENTRY_POINT_GROUP, PluginBrokenError, PluginDisabledError, PluginHookError, UnknownEventError,
                      hookimpl, registry)
from .ratelimit import allow as rate_limit
from .ratelimit import client_address
from .specs import (EventSpec, InboundAttachment, InboundMail, InboundResult, Recipient, Role, RuleSpec, TaskSpec,
                    TemplateSpec, TenantRef, UserRef, Variable)
from .targets import TargetRefused
from .targets import check_connect as check_target
from .targets import check_host as check_target_host
from .targets import check_peer as check_target_peer
from .targets import is_loopback
from .tenancy import get_tenant, tenant_by_slug, tenant_ref, tenant_ref_by_id, user_of, users_of
from .web.auth import admin_required, current_tenant_id, plugin_enabled_required
from .web.menu import MenuEntry


class Plugin:
    """Base class for plugins (optional: any object with hookimpls works).

    The entry point of a plugin names its class; Postwerk instantiates it
    once at start-up. Attributes:
    """

    #: One line shown on the plugins page (default: the class docstring's first line).
    description: str = ""
    #: Folder of the plugin's Alembic branch, if it has tables; its first
    #: revision sets ``branch_labels = ("NAME",)`` and ``depends_on = "c0001"``.
    migrations: str | None = None
    #: Essential plugins cannot be disabled.
    essential: bool = False
    #: The Postwerk versions the plugin supports, as a version specifier
    #: (``">=0.1,<1"``); on any other version it is set aside as broken,
    #: with the reason. Empty: any version.
    requires_postwerk: str = ""


def plugin_enabled(tenant_id: int, plugin: str) -> bool:
    """Whether ``plugin`` is enabled for the tenant right now (public pages
    that are not behind ``plugin_enabled_required`` check this themselves)."""
    return plugin in registry().enabled_plugins(tenant_id)


def call_inbound(tenant_id: int, mail: InboundMail) -> InboundResult | None:
    """Offer an inbound mail to the tenant's enabled plugins
    (``postwerk_inbound_mail``: the first answer wins, in pluggy's calling
    order, and later plugins are not asked). Runs in the caller's
    transaction; the caller commits.

    A plugin whose hook raises fails alone: what it wrote is rolled back
    (each plugin runs in a savepoint) and ``PluginHookError`` names it. The
    mail is not handed to the next plugin (a catch-all would file it in the
    wrong place); it stays unprocessed and the caller offers it again later,
    once the plugin is fixed or disabled (the inbound mail plugin keeps it
    aside after repeated failures). Other mails go on."""
    ref = tenant_ref(get_tenant(tenant_id))
    reg = registry()
    for plugin in reversed(reg.implementers("postwerk_inbound_mail", tenant_id)):
        failures: list = []
        savepoint = db.session.begin_nested()
        ok, answer = reg.call_one("postwerk_inbound_mail", plugin, tenant_id, failures,
                                  {"tenant": ref, "mail": mail})
        if failures:
            savepoint.rollback()
            INBOUND.labels("error").inc()
            raise PluginHookError(failures[0])
        savepoint.commit()
        if answer is not None:
            INBOUND.labels("handled").inc()
            return answer
    INBOUND.labels("unrouted").inc()
    return None


def is_known_sender(tenant_id: int, address: str) -> bool:
    """Whether ``address`` is a user of the tenant or a person one of its
    enabled plugins knows (``postwerk_known_sender``)."""
    address = (address or "").strip().lower()
    if not address:
        return False
    if db.session.execute(db.select(User.id).where(User.tenant_id == tenant_id,
                                                   db.func.lower(User.email) == address).limit(1)).first():
        return True
    answers = registry().hook("postwerk_known_sender", tenant_id)(
        tenant=tenant_ref(get_tenant(tenant_id)), address=address)
    return any(answer is True for answer in answers or ())


def sent_message_event(tenant_id: int, message_ids) -> tuple[str, dict] | None:
    """The event (key, payload) behind the newest message Postwerk sent for
    the tenant whose Message-ID is among ``message_ids`` (e.g. a reply's
    In-Reply-To and References), or None. Lets a plugin thread replies to
    the mail it caused."""
    wanted = []
    for value in message_ids or ():
        value = (value or "").strip()
        if value:
            wanted.append(value if value.startswith("<") else f"<{value}>")
    if not wanted:
        return None
    row = db.session.execute(db.select(Event.key, Event.payload).join(Message, Message.event_id == Event.id).where(
        Message.tenant_id == tenant_id, Event.tenant_id == tenant_id, Message.message_id.in_(wanted[:100]))
        .order_by(Message.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row is not None else None


__all__ = [
    "AddressError", "Deadline", "ENTRY_POINT_GROUP", "EventSpec", "InboundAttachment", "InboundMail", "InboundResult",
    "MenuEntry", "PayloadError", "Plugin", "PluginBrokenError", "PluginDisabledError", "Recipient", "Role", "RuleSpec",
    "SecretError", "TargetRefused", "TaskSpec", "TemplateSpec", "TenantRef", "UTCDateTime", "UnknownEventError",
    "UserRef", "Variable",
    "admin_required", "announce_bounces", "branded_html", "branded_text", "call_inbound", "check_address",
    "check_target", "check_target_host", "check_target_peer", "client_address",
    "current_tenant_id", "db", "decrypt", "distribution_list", "emit", "encrypt", "hookimpl", "is_known_sender",
    "is_loopback", "plugin_enabled",
    "plugin_enabled_required", "rate_limit", "record_bounce", "sent_message_event", "tenant_by_slug",
    "tenant_ref_by_id", "tls_context", "user_of", "users_of",
    "utcnow",
]
