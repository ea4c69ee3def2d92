"""The public face of the core for plugins.

A plugin imports from here and nowhere else in ``core`` -- the built-in
plugins included -- so a third-party plugin has exactly the same tools.
"""

from __future__ import annotations

from flask import has_request_context
from flask_login import current_user

from .bounces import announce_bounces, record_bounce
from .crypto import SecretError, decrypt, encrypt
from .distribution_lists import addresses as distribution_list
from .events import PayloadError, emit
from .extensions import db
from .hookspecs import HOOK_API_VERSION
from .mail.deadline import Deadline
from .mail.pop3 import DeadlinePOP3, DeadlinePOP3_SSL
from .layout import branded_html, branded_text
from .mail.linked_accounts import OAuthLink
from .mail.oauth import OAuthError
from .mail.mime import HeaderError as AddressError
from .mail.mime import check_address
from .mail.transport import tls_context
from .metrics import INBOUND
from .notify import audit as _audit
from .models import Event, Message, User
from .models.types import UTCDateTime, utcnow
from .pdf import document as pdf_document
from .plugins import (
    ENTRY_POINT_GROUP,
    PluginBrokenError,
    PluginDisabledError,
    PluginHookError,
    UnknownEventError,
    hookimpl,
    registry,
)
from .ratelimit import allow as rate_limit
from .ratelimit import client_address
from .specs import (
    EventSpec,
    InboundAttachment,
    InboundMail,
    InboundResult,
    MailAttachment,
    MailboxLogin,
    Recipient,
    ReportSpec,
    ReportTable,
    Role,
    RuleSpec,
    SendCondition,
    TaskSpec,
    TemplateSpec,
    TenantRef,
    UserRef,
    Variable,
)
from .targets import TargetRefused
from .targets import check_connect as check_target
from .targets import check_host as check_target_host
from .targets import check_peer as check_target_peer
from .targets import is_loopback
from .tenancy import get_tenant, tenant_by_slug, tenant_ref, tenant_ref_by_id, user_of, users_of
from .web.auth import admin_required, current_tenant_id, plugin_enabled_required
from .web.menu import MenuEntry
from .mail.linked_accounts import access_token, finish_link, start_link
from .mail.return_path import message_of


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
    #: The versions of the hook API (``HOOK_API_VERSION``) the plugin was
    #: written for, as a version specifier (``">=1.0,<2"``); on any other
    #: hook API it is set aside as broken, with the reason. Empty: any.
    requires_hook_api: str = ""
    #: Folder of the plugin's own message catalogue, its Babel domain:
    #: ``<folder>/de/LC_MESSAGES/<domain>.po`` and the compiled ``.mo`` next to
    #: it (``str(Path(__file__).parent / "translations")``). Its German
    #: reaches everything the plugin shows: ``gettext``/``lazy_gettext`` in its
    #: code and templates, and the words it declares as data (event labels,
    #: roles, placeholders, task and rule names). ``scripts/translations.py
    #: --plugin DIR`` extracts, updates and compiles it. A folder that does not
    #: exist or holds no compiled catalogue sets the plugin aside, with the
    #: reason. ``None``: the plugin's words are English only.
    translations: str | None = None
    #: The Babel domain (the ``.po``/``.mo`` file name without extension).
    #: Empty: the name of the package the plugin class lives in
    #: (``postwerk_maintenance`` for ``postwerk_maintenance.plugin``).
    translation_domain: str = ""


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
        ok, answer = reg.call_one("postwerk_inbound_mail", plugin, tenant_id, failures, {"tenant": ref, "mail": mail})
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


def audit(
    tenant_id: int,
    action: str,
    object_type: str = "",
    object_id: object = "",
    *,
    changes: dict[str, tuple | list] | None = None,
    actor: str | None = None,
    **detail,
) -> None:
    """Write an entry into the tenant's audit log (the admin's Logs → Audit
    page), as the core does for its own settings. Runs in the caller's
    transaction: the caller commits, so a change and its entry are stored
    together or not at all.

    ``action`` is what happened, as ``thing.verb`` (``workspace.created``);
    ``object_type`` and ``object_id`` name what it happened to
    (``"workspace"``, ``12``). ``changes`` maps each field to its
    ``(old, new)`` values; the page shows them as "field: old → new"
    (True/False as on/off, None and "" as —), and a field whose old and new
    values are equal is left out, so pass the whole before and after.
    Further keyword arguments (JSON values) are shown as "key: value".
    ``actor``: who did it, ``"user:<id>"``; None: the user signed in to the
    current request, else ``"system"``. Never put a secret into an entry."""
    if changes is not None:
        detail["changes"] = {name: [old, new] for name, (old, new) in changes.items() if old != new}
    _audit(tenant_id, actor or _signed_in_actor(), action, object_type, object_id, **detail)


def _signed_in_actor() -> str:
    if has_request_context() and current_user.is_authenticated:
        return f"user:{current_user.id}"
    return "system"


def is_known_sender(tenant_id: int, address: str) -> bool:
    """Whether ``address`` is a user of the tenant or a person one of its
    enabled plugins knows (``postwerk_known_sender``)."""
    address = (address or "").strip().lower()
    if not address:
        return False
    if db.session.execute(
        db.select(User.id).where(User.tenant_id == tenant_id, db.func.lower(User.email) == address).limit(1)
    ).first():
        return True
    answers = registry().hook("postwerk_known_sender", tenant_id)(
        tenant=tenant_ref(get_tenant(tenant_id)), address=address
    )
    return any(answer is True for answer in answers or ())


def oauth_start_link(tenant_id: int, *, redirect_uri: str, login_hint: str = "") -> OAuthLink:
    """Begin the "link account" flow (OAuth2 authorization code with PKCE)
    for a mail account of the tenant other than the sending one, e.g. an
    Exchange/Microsoft 365 or Gmail mailbox read over IMAP. Uses the
    tenant's OAuth app from its mail settings. Redirect the admin's browser
    to ``.url``; keep ``.state``, ``.verifier`` and ``.redirect_uri`` in the
    session for your callback, which calls ``oauth_finish_link``.
    ``OAuthError`` when the tenant has no OAuth app."""
    return start_link(tenant_id, redirect_uri=redirect_uri, login_hint=login_hint)


def oauth_finish_link(tenant_id: int, holder, *, code: str, redirect_uri: str, verifier: str) -> None:
    """The callback's half: trade the provider's ``code`` for tokens and
    store them, encrypted, on ``holder`` -- your row, with the columns
    ``oauth_access_token_encrypted``, ``oauth_refresh_token_encrypted``
    (Text) and ``oauth_expires_at`` (UTCDateTime). The caller commits.
    ``OAuthError`` with the provider's reason."""
    finish_link(tenant_id, holder, code=code, redirect_uri=redirect_uri, verifier=verifier)


def oauth_access_token(tenant_id: int, holder, *, lock_name: str) -> str:
    """A valid access token for an account linked with
    ``oauth_finish_link``: refreshed first when it expires within five
    minutes, and a rotated refresh token is committed at once (the old one
    may already be revoked). Two workers refreshing the same account
    (``lock_name``, unique among the tenant's accounts) are serialised.
    ``OAuthError`` when the account must be linked again."""
    return access_token(tenant_id, holder, lock_name=lock_name)


def verp_message(tenant_id: int, text: str) -> int | None:
    """The id of the tenant's message whose VERP return path
    (``bounce+<id>-<tag>@...``, sent when the tenant set a bounce address)
    appears in ``text`` -- e.g. a bounce's Delivered-To and X-Original-To
    headers -- or None. The tag is checked: a made-up or altered address,
    or another tenant's, matches nothing (pass the id to ``record_bounce``)."""
    return message_of(tenant_id, text)


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
    row = db.session.execute(
        db.select(Event.key, Event.payload)
        .join(Message, Message.event_id == Event.id)
        .where(Message.tenant_id == tenant_id, Event.tenant_id == tenant_id, Message.message_id.in_(wanted[:100]))
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


__all__ = [
    "AddressError",
    "Deadline",
    "DeadlinePOP3",
    "DeadlinePOP3_SSL",
    "ENTRY_POINT_GROUP",
    "EventSpec",
    "HOOK_API_VERSION",
    "InboundAttachment",
    "InboundMail",
    "InboundResult",
    "MailAttachment",
    "MailboxLogin",
    "MenuEntry",
    "OAuthError",
    "OAuthLink",
    "PayloadError",
    "Plugin",
    "PluginBrokenError",
    "PluginDisabledError",
    "Recipient",
    "ReportSpec",
    "ReportTable",
    "Role",
    "RuleSpec",
    "SecretError",
    "SendCondition",
    "TargetRefused",
    "TaskSpec",
    "TemplateSpec",
    "TenantRef",
    "UTCDateTime",
    "UnknownEventError",
    "UserRef",
    "Variable",
    "admin_required",
    "announce_bounces",
    "audit",
    "branded_html",
    "branded_text",
    "call_inbound",
    "check_address",
    "check_target",
    "check_target_host",
    "check_target_peer",
    "client_address",
    "current_tenant_id",
    "db",
    "decrypt",
    "distribution_list",
    "emit",
    "encrypt",
    "hookimpl",
    "is_known_sender",
    "is_loopback",
    "oauth_access_token",
    "oauth_finish_link",
    "oauth_start_link",
    "pdf_document",
    "plugin_enabled",
    "plugin_enabled_required",
    "rate_limit",
    "record_bounce",
    "sent_message_event",
    "tenant_by_slug",
    "tenant_ref_by_id",
    "tls_context",
    "user_of",
    "users_of",
    "utcnow",
    "verp_message",
]
