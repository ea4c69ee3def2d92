"""Looking up tenants and describing them to plugins."""
from __future__ import annotations

import re

from .extensions import db
from .models import Tenant, User
from .notify import audit
from .specs import TenantRef


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
    return TenantRef(id=tenant.id, slug=tenant.slug, name=tenant.name, language=tenant.language,
                     colour=tenant.colour)


SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def create_tenant(slug: str, name: str, *, admin_email: str, admin_password: str, language: str = "de",
                  admin_name: str = "Admin") -> Tenant:
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
    audit(tenant.id, "system", "tenant.created", "tenant", tenant.id)
    db.session.commit()
    return tenant
