"""Opt-outs from a tenant's bulk mail: the signed List-Unsubscribe link and
the list the expander checks.

A bulk mail (priority "bulk", models.message.Priority) carries
``List-Unsubscribe`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058) with a link signed for one recipient of one tenant, so it works
without a login and cannot be forged for another address. The opt-out is
checked only for bulk mail: transactional and system mail (a password reset,
a contract) still reach the address, and never carry the header.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from .extensions import db
from .models.suppression import OptOut
from .models.types import utcnow

# Separates these signatures from every other use of the secret key.
_SALT = "postwerk.unsubscribe.v1"


class UnsubscribeLinkError(ValueError):
    """The link was not signed by this installation (or was altered)."""


class PublicUrlMissing(RuntimeError):
    """Links in mail need the installation's public address."""


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def token(tenant_id: int, address: str, message_pk: int | None = None) -> str:
    """A token naming the tenant and the address (and the message, for the
    record). It never expires: an old newsletter's link must still work."""
    return _signer().dumps([tenant_id, address.strip().lower(), message_pk])


def read(value: str) -> tuple[int, str, int | None]:
    try:
        tenant_id, address, message_pk = _signer().loads(value)
    except (BadSignature, ValueError, TypeError) as exc:
        raise UnsubscribeLinkError("this unsubscribe link is not valid") from exc
    return int(tenant_id), str(address), message_pk


def link(tenant_id: int, address: str, message_pk: int | None = None) -> str:
    base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
    if not base:
        raise PublicUrlMissing("bulk mail needs POSTWERK_PUBLIC_URL for its unsubscribe link")
    return f"{base}/unsubscribe/{token(tenant_id, address, message_pk)}"


def headers(tenant_id: int, address: str, message_pk: int | None = None) -> dict[str, str]:
    """The RFC 8058 headers of a bulk mail to ``address``."""
    return {
        "List-Unsubscribe": f"<{link(tenant_id, address, message_pk)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def opted_out(tenant_id: int, addresses: list[str]) -> dict[str, OptOut]:
    """{address: row} for those of ``addresses`` that left the tenant's bulk mail."""
    wanted = sorted({a.strip().lower() for a in addresses if a})
    if not wanted:
        return {}
    rows = db.session.execute(
        db.select(OptOut).where(OptOut.tenant_id == tenant_id, OptOut.address.in_(wanted))
    ).scalars()
    return {row.address: row for row in rows}


def record(tenant_id: int, address: str, *, source: str, note: str = "", message_pk: int | None = None) -> OptOut:
    """Add the address (idempotent: a second click keeps the first record).
    Runs in the caller's transaction."""
    address = address.strip().lower()
    row = db.session.execute(db.select(OptOut).where(OptOut.tenant_id == tenant_id, OptOut.address == address)).scalar()
    if row is None:
        row = OptOut(
            tenant_id=tenant_id,
            address=address,
            source=source,
            note=note[:2000],
            message_pk=message_pk,
            created_at=utcnow(),
        )
        db.session.add(row)
        db.session.flush()
    return row


def remove(tenant_id: int, row_id: int) -> OptOut | None:
    row = db.session.get(OptOut, row_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    db.session.delete(row)
    return row
