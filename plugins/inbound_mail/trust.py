"""The tenant's trust policy: which receiving server's word counts, and
whether an unauthenticated mail may speak for its From address.

Each tenant sets it on the inbound mail page; a tenant that never did gets
the installation's defaults (``POSTWERK_TRUSTED_AUTHSERV_ID`` and
``POSTWERK_TRUST_UNAUTHENTICATED_MAIL``). A mailbox fetched from another
receiving server names that server's authserv-id itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from core.api import db

from .models import Mailbox, TrustPolicy

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Policy:
    #: The authserv-id whose Authentication-Results header is believed ("" = none).
    authserv_id: str
    #: Unauthenticated mail counts as its sender's.
    accept_unauthenticated: bool


def installation_accepts_unauthenticated() -> bool:
    value = current_app.config.get("TICKET_TRUST_UNAUTHENTICATED_MAIL", False)
    # From the environment it is text; from a test config a bool.
    return value.strip().lower() in _TRUE if isinstance(value, str) else bool(value)


def installation_authserv_id() -> str:
    return str(current_app.config.get("TRUSTED_AUTHSERV_ID", "") or "").strip().lower()


def stored(tenant_id: int) -> TrustPolicy | None:
    return db.session.execute(db.select(TrustPolicy).where(TrustPolicy.tenant_id == tenant_id)).scalar()


def policy(tenant_id: int, mailbox: Mailbox | None = None) -> Policy:
    """The policy in force for a mail of ``mailbox`` (or of the tenant)."""
    row = stored(tenant_id)
    authserv_id = (mailbox.trusted_authserv_id or "").strip().lower() if mailbox is not None else ""
    if not authserv_id:
        authserv_id = (row.trusted_authserv_id or "").strip().lower() if row is not None else ""
    if not authserv_id:
        authserv_id = installation_authserv_id()
    accept = row.accept_unauthenticated if row is not None else None
    if accept is None:
        accept = installation_accepts_unauthenticated()
    return Policy(authserv_id, bool(accept))
