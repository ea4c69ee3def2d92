"""Deleting softly: a deleted rule, template or queue message keeps a copy in
its audit entry, and can be restored from there for ``RESTORE_DAYS`` (the
"Undo" in the flash message, or "Restore" in the audit)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import inspect

from ..extensions import db
from ..models import AuditEntry, Message, Rule, Template
from ..models.types import utcnow
from ..notify import audit
from . import bp
from .forms import ActionForm
from .scope import actor, tenant_id

RESTORE_DAYS = 7
KINDS = {"rule": Rule, "template": Template, "message": Message}
_PAGES = {"rule": "admin.rules_list", "template": "admin.templates_list", "message": "admin.queue_page"}


def _plain(value):
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    return value


def _back(value):
    if isinstance(value, dict) and "$datetime" in value:
        return datetime.fromisoformat(value["$datetime"])
    if isinstance(value, dict) and "$date" in value:
        return date.fromisoformat(value["$date"])
    return value


def snapshot(row) -> dict:
    return {attr.key: _plain(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs}


def delete(kind: str, row, text: str, **detail) -> AuditEntry:
    """Delete ``row``, keep its copy in the audit, and flash ``text`` with an Undo button."""
    entry = audit(tenant_id(), actor(), f"{kind}.deleted", kind, row.id, snapshot=snapshot(row), **detail)
    db.session.delete(row)
    db.session.flush()
    flash({"text": text, "entry": entry.id}, "undo")
    return entry


def restorable(entry: AuditEntry) -> bool:
    """A deletion of this tenant, young enough, not yet restored."""
    detail = entry.detail or {}
    kind = entry.object_type
    return (
        entry.action == f"{kind}.deleted"
        and kind in KINDS
        and "snapshot" in detail
        and not detail.get("restored")
        and entry.created_at >= utcnow() - timedelta(days=RESTORE_DAYS)
    )


@bp.route("/restore", methods=["POST"])
def restore():
    form = ActionForm()
    if not form.validate_on_submit() or not form.id.data.isdigit():
        return redirect(url_for("admin.audit_log"))
    entry = db.session.get(AuditEntry, int(form.id.data))
    if entry is None or entry.tenant_id != tenant_id():
        return redirect(url_for("admin.audit_log"))
    target = request.form.get("next") or ""
    back = (
        target
        if target.startswith("/") and not target.startswith("//")
        else url_for(_PAGES.get(entry.object_type, "admin.audit_log"))
    )
    if not restorable(entry):
        flash(
            _("This can no longer be restored (after %(days)s days, or restored already).", days=RESTORE_DAYS), "error"
        )
        return redirect(back)
    model = KINDS[entry.object_type]
    values = {key: _back(value) for key, value in entry.detail["snapshot"].items()}
    if db.session.get(model, values["id"]) is not None or _clashes(model, values):
        flash(_("It cannot be restored: another one with the same name exists now."), "error")
        return redirect(back)
    if model is Message and values.get("resend_of_id") and db.session.get(Message, values["resend_of_id"]) is None:
        values["resend_of_id"] = None
    db.session.add(model(**values))
    entry.detail = dict(entry.detail, restored=True)
    audit(tenant_id(), actor(), f"{entry.object_type}.restored", entry.object_type, values["id"], from_entry=entry.id)
    db.session.commit()
    flash(_("Restored."), "success")
    return redirect(back)


def _clashes(model, values: dict) -> bool:
    if model is Template:
        return (
            db.session.execute(
                db.select(Template.id).where(
                    Template.tenant_id == values["tenant_id"],
                    Template.key == values["key"],
                    Template.language == values["language"],
                )
            ).first()
            is not None
        )
    if model is Message:
        return (
            db.session.execute(db.select(Message.id).where(Message.message_id == values["message_id"])).first()
            is not None
        )
    return False
