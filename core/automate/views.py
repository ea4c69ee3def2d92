"""The admin page of AUTOMATE: /settings/admin/automate."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..extensions import db
from ..models import Tenant
from ..web.auth import admin_required, current_tenant_id
from . import state as automate
from .labels import translator
from .models import TaskRun, TaskState
from .status import why_mail_waits
from .tasks import SWEEPER, task_specs
from .. import reports
from ..models import DistributionList, ReportSchedule

LANGUAGES = ("de", "en")
bp = Blueprint("automate", __name__, url_prefix="/settings/admin/automate", template_folder="templates")


def _language() -> str:
    """The admin's own language, else the browser's, else the tenant's."""
    if current_user.language in LANGUAGES:
        return current_user.language
    return request.accept_languages.best_match(LANGUAGES) or db.session.get(Tenant, current_tenant_id()).language


def _t(text: str) -> str:
    return translator(_language())(text)


def _task_or_404(tenant_id: int, key: str):
    specs = task_specs(tenant_id)
    if key not in specs:
        abort(404)
    return specs[key]


def _actor() -> str:
    return f"user:{current_user.id}"


@bp.get("/")
@admin_required
def index():
    tenant_id = current_tenant_id()
    t = translator(_language())
    specs = task_specs(tenant_id)
    rows = automate.ensure_tasks(tenant_id, specs)
    tasks = [
        dict(key=key, label=t(spec.label), description=t(spec.description), row=rows[key])
        for key, spec in specs.items()
    ]
    return render_template(
        "automate/index.html",
        t=t,
        tasks=tasks,
        state=automate.automate_state(tenant_id),
        waits=why_mail_waits(tenant_id),
        sweeper=SWEEPER,
    )


@bp.post("/pause")
@admin_required
def pause():
    tenant_id = current_tenant_id()
    paused = request.form.get("action") == "pause"
    automate.set_paused(tenant_id, paused, actor=_actor())
    flash(
        _t("AUTOMATE is paused: mail waits in the queue.")
        if paused
        else _t("AUTOMATE is active again; waiting mail goes out."),
        "success",
    )
    return redirect(url_for(".index"))


@bp.post("/retention")
@admin_required
def retention():
    tenant_id = current_tenant_id()
    try:
        automate.set_retention(tenant_id, int(request.form.get("retention_days", "")), actor=_actor())
        flash(_t("Saved."), "success")
    except ValueError as exc:
        flash(str(exc) if isinstance(exc, automate.ScheduleError) else "a whole number of days, please", "error")
    return redirect(url_for(".index"))


@bp.post("/tasks/<key>/enabled")
@admin_required
def set_enabled(key: str):
    tenant_id = current_tenant_id()
    _task_or_404(tenant_id, key)
    automate.set_task_enabled(tenant_id, key, request.form.get("enabled") == "1", actor=_actor())
    flash(_t("Saved."), "success")
    return redirect(url_for(".index"))


@bp.post("/tasks/<key>/schedule")
@admin_required
def schedule(key: str):
    tenant_id = current_tenant_id()
    _task_or_404(tenant_id, key)
    raw = request.form.get("interval_seconds", "").strip()
    try:
        interval = int(raw) if raw else None
    except ValueError:
        flash(f"{raw!r} is not a whole number of seconds", "error")
        return redirect(url_for(".index"))
    try:
        automate.set_schedule(tenant_id, key, interval_seconds=interval, cron=request.form.get("cron"), actor=_actor())
        flash(_t("Saved."), "success")
    except automate.ScheduleError as exc:
        flash(str(exc), "error")
    return redirect(url_for(".index"))


@bp.post("/tasks/<key>/run")
@admin_required
def run_now(key: str):
    tenant_id = current_tenant_id()
    _task_or_404(tenant_id, key)
    automate.request_run(tenant_id, key, actor=_actor())
    flash(_t("Runs at the scheduler's next tick."), "success")
    return redirect(url_for(".index"))


@bp.get("/tasks/<key>/history")
@admin_required
def history(key: str):
    tenant_id = current_tenant_id()
    spec = _task_or_404(tenant_id, key)
    t = translator(_language())
    runs = (
        db.session.execute(
            select(TaskRun)
            .where(TaskRun.tenant_id == tenant_id, TaskRun.task_key == key)
            .order_by(TaskRun.id.desc())
            .limit(50)
        )
        .scalars()
        .all()
    )
    return render_template("automate/history.html", t=t, label=t(spec.label), runs=runs)


# --- Scheduled report mails (core.reports) -------------------------------------


@bp.get("/reports")
@admin_required
def reports_page():
    tenant_id = current_tenant_id()
    offered = reports.offered(tenant_id)
    schedules = (
        db.session.execute(
            select(ReportSchedule).where(ReportSchedule.tenant_id == tenant_id).order_by(ReportSchedule.id)
        )
        .scalars()
        .all()
    )
    tasks = {
        t.task_key: t
        for t in db.session.execute(
            select(TaskState).where(
                TaskState.tenant_id == tenant_id, TaskState.task_key.like(reports.TASK_PREFIX + "%")
            )
        ).scalars()
    }
    rows = [
        dict(
            schedule=s,
            task=tasks.get(reports.task_key(s.id)),
            key=reports.task_key(s.id),
            label=_(offered[s.report_key].label) if s.report_key in offered else s.report_key,
        )
        for s in schedules
    ]
    lists = (
        db.session.execute(
            select(DistributionList.name).where(DistributionList.tenant_id == tenant_id).order_by(DistributionList.name)
        )
        .scalars()
        .all()
    )
    return render_template(
        "automate/reports.html",
        offered=offered,
        rows=rows,
        roles=reports.ROLES,
        lists=lists,
        recipients_text=reports.recipients_text,
    )


@bp.post("/reports")
@admin_required
def reports_create():
    tenant_id = current_tenant_id()
    try:
        schedule = reports.create(
            tenant_id,
            report_key=request.form.get("report_key", ""),
            cron=(request.form.get("cron") or "").strip(),
            roles=request.form.getlist("roles"),
            addresses=request.form.get("addresses", ""),
            lists=request.form.getlist("lists"),
            language=request.form.get("language", ""),
            actor=_actor(),
        )
    except (reports.ReportError, automate.ScheduleError) as exc:
        db.session.rollback()
        flash(_("Not scheduled: %(error)s", error=str(exc)), "error")
        return redirect(url_for(".reports_page")), 303
    flash(_("Report scheduled (task %(key)s).", key=reports.task_key(schedule.id)), "success")
    return redirect(url_for(".reports_page"))


@bp.post("/reports/<int:schedule_id>/delete")
@admin_required
def reports_delete(schedule_id: int):
    if not reports.delete(current_tenant_id(), schedule_id, actor=_actor()):
        abort(404)
    flash(_("Report schedule deleted."), "success")
    return redirect(url_for(".reports_page"))
