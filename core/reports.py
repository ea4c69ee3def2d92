"""Scheduled report mails: a plugin's report (``postwerk_reports``) as a PDF
in the tenant's branding, mailed as an attachment on an AUTOMATE schedule.

A schedule is a ``report_schedule`` row (what, to whom, which language) plus
the AUTOMATE task ``report:ID`` (cron, enabled, runs, history): AUTOMATE's
scheduler claims and runs it like any task, so a run shows in the task
history and a failed run is a failed task run with its reason.
"""

from __future__ import annotations

import importlib
import logging

from . import attachments, distribution_lists, pdf
from .extensions import db
from .mail import mime
from .models import MailSettings, Message, MessageStatus, ReportSchedule, User
from .models.message import Priority
from .models.types import utcnow
from .automate.registry import TaskSource, add_source
from .notify import audit
from .plugins import registry
from .specs import ReportSpec, ReportTable, TaskSpec, TenantRef
from .tenancy import get_tenant, tenant_ref
from .wakeups import wake_deliverer
from .automate import state
from .automate.models import TaskState
from .specs import MailAttachment

log = logging.getLogger(__name__)

TASK_PREFIX = "report:"
ROLES = ("admins", "users")
LANGUAGES = ("de", "en")
#: Rows a report's PDF shows at most (the rest is counted, not shown).
MAX_ROWS = 1000

_TEXT = {
    "de": (
        "{label} – {tenant}",
        "Guten Tag,\n\nim Anhang finden Sie den Bericht „{title}“ ({rows} Zeilen), "
        "erstellt am {date}.\n\nDiese Mail wurde automatisch von Postwerk für {tenant} versandt.\n",
    ),
    "en": (
        "{label} – {tenant}",
        'Hello,\n\nattached is the report "{title}" ({rows} rows), made on {date}.\n\n'
        "This mail was sent automatically by Postwerk for {tenant}.\n",
    ),
}


class ReportError(ValueError):
    """A schedule is refused, or a run cannot be made; ``str()`` says why."""


def offered(tenant_id: int | None = None) -> dict[str, ReportSpec]:
    """Reports of the plugins enabled for the tenant (all installed ones
    when ``tenant_id`` is None), by key; the first plugin to use a key keeps it."""
    found: dict[str, ReportSpec] = {}
    for _plugin, answer in registry().call_each("postwerk_reports", tenant_id, failures=[]):
        for spec in answer or ():
            if isinstance(spec, ReportSpec):
                found.setdefault(spec.key, spec)
    return found


def task_key(schedule_id: int) -> str:
    return f"{TASK_PREFIX}{schedule_id}"


def task_specs(tenant_id: int) -> dict[str, TaskSpec]:
    """The tenant's schedules as AUTOMATE tasks. A schedule whose report is
    no longer offered (its plugin switched off) stays: its run fails and says so."""
    labels = {key: spec.label for key, spec in offered(tenant_id).items()}
    specs = {}
    for schedule in db.session.execute(
        db.select(ReportSchedule).where(ReportSchedule.tenant_id == tenant_id).order_by(ReportSchedule.id)
    ).scalars():
        key = task_key(schedule.id)
        specs[key] = TaskSpec(
            key=key,
            label=f"Report: {labels.get(schedule.report_key, schedule.report_key)}",
            function="core.reports:run_schedule",
            interval=7 * 24 * 3600,
            description=recipients_text(schedule),
        )
    return specs


def recipients_text(schedule: ReportSchedule) -> str:
    lists = ", ".join(f"list:{name}" for name in _names(schedule.lists))
    return ", ".join(p for p in (schedule.roles, schedule.addresses, lists) if p)


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def create(
    tenant_id: int,
    *,
    report_key: str,
    cron: str,
    roles: list[str],
    addresses: str,
    language: str,
    actor: str,
    lists: list[str] | None = None,
) -> ReportSchedule:
    """Check and save a schedule with its AUTOMATE task (the caller commits
    nothing: this commits). Raises ReportError or automate's ScheduleError."""
    if report_key not in offered(tenant_id):
        raise ReportError(f"the report {report_key!r} is not offered to this tenant")
    if any(role not in ROLES for role in roles):
        raise ReportError(f"roles are {', '.join(ROLES)}")
    if language not in LANGUAGES:
        raise ReportError("the language is de or en")
    clean = []
    for address in (a.strip() for a in (addresses or "").split(",")):
        if address:
            try:
                mime.check_address(address)
            except mime.HeaderError as exc:
                raise ReportError(f"{address}: {exc}") from None
            clean.append(address)
    names: list[str] = []
    for name in lists or []:
        name = name.strip().lower()
        if not name:
            continue
        if distribution_lists.get(tenant_id, name) is None:
            raise ReportError(f"there is no distribution list named {name!r}")
        names.append(name)
    if not roles and not clean and not names:
        raise ReportError("choose a role or a list or enter an address")
    state.check_schedule(None, cron)
    schedule = ReportSchedule(
        tenant_id=tenant_id,
        report_key=report_key,
        roles=",".join(roles),
        addresses=", ".join(clean),
        lists=",".join(dict.fromkeys(names)),
        language=language,
        format="pdf",
    )
    db.session.add(schedule)
    db.session.commit()
    state.set_schedule(tenant_id, task_key(schedule.id), interval_seconds=None, cron=cron, actor=actor)
    audit(
        tenant_id,
        actor,
        "report.scheduled",
        "report_schedule",
        schedule.id,
        report=report_key,
        cron=cron,
        recipients=recipients_text(schedule),
    )
    db.session.commit()
    return schedule


def delete(tenant_id: int, schedule_id: int, *, actor: str) -> bool:
    schedule = db.session.get(ReportSchedule, schedule_id)
    if schedule is None or schedule.tenant_id != tenant_id:
        return False
    db.session.execute(
        db.delete(TaskState).where(TaskState.tenant_id == tenant_id, TaskState.task_key == task_key(schedule_id))
    )
    db.session.delete(schedule)
    audit(tenant_id, actor, "report.deleted", "report_schedule", schedule_id, report=schedule.report_key)
    db.session.commit()
    return True


def _resolve(spec: ReportSpec):
    module, _, name = spec.function.partition(":")
    return getattr(importlib.import_module(module), name)


def _recipients(schedule: ReportSchedule) -> list[str]:
    found: list[str] = []
    roles = {r for r in schedule.roles.split(",") if r}
    if roles:
        query = db.select(User.email).where(User.tenant_id == schedule.tenant_id)
        if "users" not in roles:
            query = query.where(User.is_admin)
        found += db.session.execute(query.order_by(User.id)).scalars().all()
    found += [a.strip() for a in schedule.addresses.split(",") if a.strip()]
    for name in _names(schedule.lists):
        # Resolved now, not when scheduled: the list's members of today.
        members = distribution_lists.addresses(schedule.tenant_id, name)
        if not members:
            raise ReportError(f"there is no distribution list named {name!r} (or it is empty)")
        found += members
    return list(dict.fromkeys(a.lower() for a in found))


def build(tenant: TenantRef, spec: ReportSpec, language: str) -> tuple[ReportTable, bytes]:
    table = _resolve(spec)(tenant, language)
    if not isinstance(table, ReportTable):
        raise ReportError(f"the report {spec.key} returned {type(table).__name__}, not a ReportTable")
    made = utcnow().strftime("%Y-%m-%d %H:%M UTC")
    lines = [table.summary] if table.summary else []
    rows = tuple(table.rows)
    if len(rows) > MAX_ROWS:
        # fpdf2 lays a table out at roughly 4 ms a row on one core: a run
        # must stay far inside its job timeout, so the PDF says what it left out.
        lines.append(
            f"Die ersten {MAX_ROWS} von {len(rows)} Zeilen."
            if language == "de"
            else f"The first {MAX_ROWS} of {len(rows)} rows."
        )
        rows = rows[:MAX_ROWS]
    footer = (
        f"Erstellt am {made} von Postwerk für {tenant.name}"
        if language == "de"
        else f"Made on {made} by Postwerk for {tenant.name}"
    )
    content = pdf.document(tenant, table.title, lines=lines, table=(table.columns, rows), footer=footer)
    return table, content


def run_schedule(schedule_id: int, tenant_id: int) -> str:
    """One run (an AUTOMATE task run): build the PDF, write one message per
    recipient carrying it, wake the deliverer. Raises with the reason when
    the run cannot be made; the task run is then failed."""
    schedule = db.session.get(ReportSchedule, schedule_id)
    if schedule is None or schedule.tenant_id != tenant_id:
        raise ReportError(f"report schedule {schedule_id} no longer exists")
    spec = offered(tenant_id).get(schedule.report_key)
    if spec is None:
        raise ReportError(
            f"the report {schedule.report_key!r} is no longer offered (its plugin is switched off or gone)"
        )
    people = _recipients(schedule)
    if not people:
        raise ReportError("the schedule has no recipients (no user in the chosen roles, no address)")
    settings = db.session.get(MailSettings, tenant_id)
    if settings is None or not settings.sender_address:
        raise ReportError("no sender address is configured")
    tenant = tenant_ref(get_tenant(tenant_id))
    table, content = build(tenant, spec, schedule.language)
    subject_t, body_t = _TEXT[schedule.language]
    values = dict(
        label=spec.label,
        tenant=tenant.name,
        title=table.title,
        rows=len(table.rows),
        date=utcnow().strftime("%Y-%m-%d"),
    )
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in spec.key)
    refs = attachments.store_all(
        tenant_id, attachments.check([pdf_attachment(f"{safe}-{values['date']}.pdf", content)])
    )
    now = utcnow()
    links = []
    for address in people:
        message = Message(
            tenant_id=tenant_id,
            event_key=None,
            template_key=f"report:{spec.key}",
            language=schedule.language,
            message_id=mime.new_message_id(settings.sender_address),
            sender=settings.sender_address,
            sender_name=settings.sender_name or tenant.name,
            reply_to=settings.reply_to or "",
            recipients=[address],
            subject=subject_t.format(**values),
            body_text=body_t.format(**values),
            body_html="",
            status=MessageStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
            priority=Priority.TRANSACTIONAL,
            attachments=len(refs),
        )
        db.session.add(message)
        db.session.flush()
        links.append((message.id, refs))
    attachments.attach_to_messages(links)
    db.session.commit()
    wake_deliverer(tenant_id)
    return f"mailed '{table.title}' ({len(table.rows)} row(s)) to {len(people)} recipient(s)"


def pdf_attachment(filename: str, content: bytes):
    return MailAttachment(filename=filename, content_type="application/pdf", content=content)


# Each schedule is an AUTOMATE task of its own, "report:<id>" (the registry
# sits below this module, so this module tells it; core.app imports it).
add_source(
    TaskSource(
        prefix=TASK_PREFIX,
        specs=task_specs,
        run=lambda schedule_id, tenant_id: run_schedule(int(schedule_id), tenant_id),
    )
)
