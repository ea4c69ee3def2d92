"""Looking up tenants and describing them to plugins."""

from __future__ import annotations

import re

from .extensions import db
from .models import Template, Tenant, User
from .notify import audit
from .specs import TenantRef, UserRef
from .system_templates import TEMPLATES


class UnknownTenantError(LookupError):
    pass


def get_tenant(tenant: Tenant | TenantRef | int | str) -> Tenant:
    """Accept a Tenant, a TenantRef, an id or a slug (CLI and API callers)."""
    if isinstance(tenant, Tenant):
        return tenant
    if isinstance(tenant, TenantRef):
        tenant = tenant.id
    if isinstance(tenant, int):
        found = db.session.get(Tenant, tenant)
    else:
        found = db.session.execute(db.select(Tenant).where(Tenant.slug == tenant)).scalar_one_or_none()
    if found is None:
        raise UnknownTenantError(f"no tenant {tenant!r}")
    return found


def tenant_ref(tenant: Tenant) -> TenantRef:
    return TenantRef(id=tenant.id, slug=tenant.slug, name=tenant.name, language=tenant.language, colour=tenant.colour)


SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def create_tenant(
    slug: str, name: str, *, admin_email: str, admin_password: str, language: str = "de", admin_name: str = "Admin"
) -> Tenant:
    if not SLUG.match(slug):
        raise ValueError("a tenant's short name uses a-z, 0-9 and '-' (up to 63 characters)")
    if len(admin_password) < 8:
        raise ValueError("the admin password needs at least 8 characters")
    tenant = Tenant(slug=slug, name=name, language=language)
    db.session.add(tenant)
    db.session.flush()
    user = User(tenant_id=tenant.id, email=admin_email.strip().lower(), name=admin_name, is_admin=True)
    user.set_password(admin_password)
    db.session.add(user)
    # System mail templates, editable in the template editor like any other.
    for spec in TEMPLATES:
        db.session.add(
            Template(
                tenant_id=tenant.id,
                key=spec.key,
                language=spec.language,
                subject=spec.subject,
                body_html=spec.body_html,
                body_text=spec.body_text,
            )
        )
    audit(tenant.id, "system", "tenant.created", "tenant", tenant.id)
    db.session.commit()
    return tenant


def tenant_by_slug(slug: str) -> TenantRef | None:
    """The tenant with this short name, or None (public pages: 404)."""
    found = db.session.execute(db.select(Tenant).where(Tenant.slug == (slug or "").strip())).scalar_one_or_none()
    return tenant_ref(found) if found is not None else None


def tenant_ref_by_id(tenant_id: int) -> TenantRef:
    """The ``TenantRef`` of a tenant id (``LookupError`` when there is none)."""
    return tenant_ref(get_tenant(tenant_id))


def _user_ref(user: User) -> UserRef:
    return UserRef(id=user.id, name=user.name, email=user.email, language=user.language or "")


def users_of(tenant_id: int) -> list[UserRef]:
    """The users of a tenant, by name (e.g. to pick a ticket's assignee)."""
    rows = db.session.execute(db.select(User).where(User.tenant_id == tenant_id).order_by(User.name, User.id))
    return [_user_ref(u) for u in rows.scalars()]


def user_of(tenant_id: int, user_id: int | None) -> UserRef | None:
    """A user of this tenant by id; another tenant's user is None."""
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id:
        return None
    return _user_ref(user)
