"""The mail admin in the browser, under /settings/admin/mail.

One blueprint; one module per page area. Every view sees only the logged-in
admin's tenant: objects are looked up by (tenant, id), so another tenant's
ids answer 404.
"""

from __future__ import annotations

from flask import Blueprint

from ..web.auth import admin_required

bp = Blueprint("admin", __name__, url_prefix="/settings/admin/mail")


@bp.before_request
@admin_required
def _admins_only():
    """Every page of the blueprint: logged in, and an admin (else 403)."""
    return None


# The page modules attach their routes to ``bp`` when imported, so they
# import this package and it cannot import them: ``core.admin.pages``
# imports them all and registers the blueprint.
