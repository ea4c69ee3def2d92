"""The List-Unsubscribe link of bulk mail: works without a login.

GET shows a page with one button (link scanners and previews follow GETs,
so a GET alone never unsubscribes); POST records the opt-out. RFC 8058's
one-click POST (body ``List-Unsubscribe=One-Click``) comes from the
recipient's mail provider, which has no CSRF token: the signed token in the
path is the authority, so the blueprint is exempt from CSRF.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy.exc import IntegrityError

from .. import opt_outs
from ..extensions import csrf, db
from ..models import Tenant
from ..notify import audit

bp = Blueprint("unsubscribe", __name__)
csrf.exempt(bp)


def _read(token: str):
    try:
        tenant_id, address, message_pk = opt_outs.read(token)
    except opt_outs.UnsubscribeLinkError:
        return None
    tenant = db.session.get(Tenant, tenant_id)
    return (tenant, address, message_pk) if tenant is not None else None


@bp.route("/unsubscribe/<token>", methods=["GET"])
def confirm(token: str):
    found = _read(token)
    if found is None:
        return render_template("unsubscribe.html", state="invalid"), 404
    tenant, address, _ = found
    done = bool(opt_outs.opted_out(tenant.id, [address]))
    return render_template(
        "unsubscribe.html", state="done" if done else "ask", tenant=tenant, address=address, token=token
    )


@bp.route("/unsubscribe/<token>", methods=["POST"])
def unsubscribe(token: str):
    found = _read(token)
    if found is None:
        return render_template("unsubscribe.html", state="invalid"), 404
    tenant, address, message_pk = found
    if not opt_outs.opted_out(tenant.id, [address]):
        try:
            opt_outs.record(
                tenant.id, address, source="link", note="the recipient's unsubscribe link", message_pk=message_pk
            )
            audit(tenant.id, address, "opt_out.added", "address", address, source="link", message=message_pk)
            db.session.commit()
        except IntegrityError:  # a second click at the same instant: that one recorded it
            db.session.rollback()
    return render_template("unsubscribe.html", state="done", tenant=tenant, address=address, token=token)
