"""The notification log (permanent failures, warnings) and the audit trail."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext
from sqlalchemy import String, cast, or_

from ..extensions import db
from ..models import AuditEntry, Notification, User
from ..web.words import ACTION_WORDS, action_word
from . import bp
from .scope import tenant_id
from .trash import restorable

PAGE_SIZE = 50


def _word(value) -> str:
    if value is True:
        return gettext("on")
    if value is False:
        return gettext("off")
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def describe(entry: AuditEntry) -> list[str]:
    """The entry's details in words: "active: off → on", never Python reprs."""
    lines = []
    for key, value in (entry.detail or {}).items():
        if key in ("snapshot", "restored"):
            continue
        if key == "changes" and isinstance(value, dict):
            lines += [
                f"{name}: {_word(pair[0])} → {_word(pair[1])}"
                for name, pair in value.items()
                if isinstance(pair, list) and len(pair) == 2
            ]
        elif key == "changed" and isinstance(value, list):
            lines.append(gettext("changed: %(fields)s", fields=", ".join(value) or "—"))
        elif value not in (None, "", [], {}):
            lines.append(f"{key}: {_word(value)}")
    if (entry.detail or {}).get("restored"):
        lines.append(gettext("restored"))
    return lines


def _search(model, query):
    """?q= words anywhere in the entry; ?level= / ?action= exact (GET, bookmarkable)."""
    words = (request.args.get("q") or "").strip().lower()
    if words:
        needle = "%" + words.replace("%", r"\%").replace("_", r"\_") + "%"
        if model is Notification:
            columns = [Notification.text, Notification.level]
        else:
            columns = [
                AuditEntry.action,
                AuditEntry.object_type,
                AuditEntry.object_id,
                AuditEntry.actor,
                cast(AuditEntry.detail, String),
            ]
        matches = [db.func.lower(column).like(needle, escape="\\") for column in columns]
        if model is AuditEntry:
            # The page shows actions as words in the admin's language: find those words too.
            said = [code for code in ACTION_WORDS if words in action_word(code).lower()]
            if said:
                matches.append(AuditEntry.action.in_(said))
        query = query.where(or_(*matches))
    if model is Notification and request.args.get("level"):
        query = query.where(Notification.level == request.args["level"])
    if model is AuditEntry and request.args.get("action"):
        query = query.where(AuditEntry.action == request.args["action"])
    return query


def _filters() -> dict:
    return {k: v for k in ("q", "level", "action") if (v := request.args.get(k))}


def _page(model, before: str | None):
    query = _search(model, db.select(model).where(model.tenant_id == tenant_id()))
    if before and before.isdigit():
        query = query.where(model.id < int(before))
    rows = db.session.execute(query.order_by(model.id.desc()).limit(PAGE_SIZE + 1)).scalars().all()
    return rows[:PAGE_SIZE], (rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None)


@bp.route("/log")
def notification_log():
    entries, more = _page(Notification, request.args.get("before"))
    return render_template(
        "admin/log.html",
        entries=entries,
        filters=_filters(),
        older_url=url_for("admin.notification_log", before=more, **_filters()) if more else None,
    )


@bp.route("/audit")
def audit_log():
    entries, more = _page(AuditEntry, request.args.get("before"))
    # "user:12" -> the user's e-mail, for this tenant's users only.
    ids = {int(e.actor[5:]) for e in entries if e.actor.startswith("user:") and e.actor[5:].isdigit()}
    users = (
        dict(
            db.session.execute(
                db.select(User.id, User.email).where(User.tenant_id == tenant_id(), User.id.in_(ids))
            ).all()
        )
        if ids
        else {}
    )
    names = {f"user:{uid}": email for uid, email in users.items()}
    return render_template(
        "admin/audit.html",
        entries=entries,
        names=names,
        describe=describe,
        restorable={e.id for e in entries if restorable(e)},
        filters=_filters(),
        older_url=url_for("admin.audit_log", before=more, **_filters()) if more else None,
    )
