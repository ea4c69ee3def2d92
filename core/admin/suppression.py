"""The suppression list: addresses mail is not sent to (bounced, or added by
an admin). Rules skip them, with the reason in the queue and the dry run."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import bounces
from ..extensions import db
from ..mail.mime import HeaderError, check_address
from ..models.suppression import SuppressedAddress
from ..notify import audit
from . import bp
from .scope import actor, tenant_id


@bp.route("/suppression", methods=["GET", "POST"])
def suppression():
    if request.method == "POST":
        address = (request.form.get("address") or "").strip()
        reason = (request.form.get("reason") or "").strip()[:500]
        try:
            check_address(address)
        except HeaderError as exc:
            flash(_("Not added: %(error)s", error=str(exc)), "error")
        else:
            if "@" not in address:
                flash(_("Not added: %(error)s", error="not an address"), "error")
            else:
                bounces.note(tenant_id(), address, hard=True, reason=reason or _("added by an admin"))
                audit(tenant_id(), actor(), "suppression.added", "address", address.lower(), reason=reason)
                db.session.commit()
                flash(_("%(address)s is on the suppression list.", address=address.lower()), "success")
        return redirect(url_for("admin.suppression"))
    rows = db.session.execute(db.select(SuppressedAddress).where(SuppressedAddress.tenant_id == tenant_id())
                              .order_by(SuppressedAddress.suppressed.desc(), SuppressedAddress.updated_at.desc())
                              .limit(1000)).scalars().all()
    return render_template("admin/suppression.html", rows=rows)


@bp.route("/suppression/<int:row_id>/remove", methods=["POST"])
def suppression_remove(row_id: int):
    row = bounces.unsuppress(tenant_id(), row_id)
    if row is None:
        return ("", 404)
    audit(tenant_id(), actor(), "suppression.removed", "address", row.address)
    db.session.commit()
    flash(_("%(address)s was removed from the suppression list.", address=row.address), "success")
    return redirect(url_for("admin.suppression"))
