"""Tenant scoping for the admin pages: lookups that 404 across tenants."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from ..extensions import db


def tenant_id() -> int:
    return current_user.tenant_id


def actor() -> str:
    return f"user:{current_user.id}"


def get_owned(model, object_id) -> object:
    """The tenant's row with this id, or 404 (also for ids of other tenants)."""
    try:
        pk = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    row = db.session.get(model, pk)
    if row is None or row.tenant_id != tenant_id():
        abort(404)
    return row
