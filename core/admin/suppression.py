"""The suppression list: addresses mail is not sent to (bounced, or added by
an admin). Rules skip them, with the reason in the queue and the dry run."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import bounces, opt_outs
from ..extensions import db
from ..mail.mime import HeaderError, check_address
from ..models.suppression import OptOut, SuppressedAddress
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
    rows = (
        db.session.execute(
            db.select(SuppressedAddress)
            .where(SuppressedAddress.tenant_id == tenant_id())
            .order_by(SuppressedAddress.suppressed.desc(), SuppressedAddress.updated_at.desc())
            .limit(1000)
        )
        .scalars()
        .all()
    )
    unsubscribed = (
        db.session.execute(
            db.select(OptOut).where(OptOut.tenant_id == tenant_id()).order_by(OptOut.created_at.desc()).limit(1000)
        )
        .scalars()
        .all()
    )
    return render_template("admin/suppression.html", rows=rows, opt_outs=unsubscribed)


@bp.route("/suppression/<int:row_id>/remove", methods=["POST"])
def suppression_remove(row_id: int):
    row = bounces.unsuppress(tenant_id(), row_id)
    if row is None:
        return ("", 404)
    audit(tenant_id(), actor(), "suppression.removed", "address", row.address)
    db.session.commit()
    flash(_("%(address)s was removed from the suppression list.", address=row.address), "success")
    return redirect(url_for("admin.suppression"))


# --- Opt-outs from bulk mail (core.opt_outs): shown on the same page ----------


@bp.route("/suppression/opt-outs", methods=["POST"])
def opt_out_add():
    """An admin records an opt-out a recipient asked for by phone or letter."""
    address = (request.form.get("address") or "").strip()
    note = (request.form.get("note") or "").strip()[:500]
    try:
        check_address(address)
        if "@" not in address:
            raise HeaderError("not an address")
    except HeaderError as exc:
        flash(_("Not added: %(error)s", error=str(exc)), "error")
        return redirect(url_for("admin.suppression"))
    if not opt_outs.opted_out(tenant_id(), [address]):
        opt_outs.record(tenant_id(), address, source="admin", note=note or _("added by %(who)s", who=actor()))
        audit(tenant_id(), actor(), "opt_out.added", "address", address.lower(), source="admin", note=note)
        db.session.commit()
    flash(_("%(address)s receives no more bulk mail.", address=address.lower()), "success")
    return redirect(url_for("admin.suppression"))


@bp.route("/suppression/opt-outs/<int:row_id>/remove", methods=["POST"])
def opt_out_remove(row_id: int):
    row = opt_outs.remove(tenant_id(), row_id)
    if row is None:
        return ("", 404)
    audit(tenant_id(), actor(), "opt_out.removed", "address", row.address)
    db.session.commit()
    flash(_("%(address)s receives bulk mail again.", address=row.address), "success")
    return redirect(url_for("admin.suppression"))
