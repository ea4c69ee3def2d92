"""The ticket plugin's report for scheduled report mails: open tickets of the week."""

from __future__ import annotations

from datetime import timedelta

from core.api import ReportSpec, ReportTable, TenantRef, db, utcnow

from .models import Ticket

OPEN_THIS_WEEK = ReportSpec(
    key="ticket.open_this_week",
    label="Open tickets this week",
    function="plugins.ticket.reports:open_this_week",
    description="tickets reported in the last 7 days that are not closed",
)


def open_this_week(tenant: TenantRef, language: str) -> ReportTable:
    since = utcnow() - timedelta(days=7)
    tickets = (
        db.session.execute(
            db.select(Ticket)
            .where(Ticket.tenant_id == tenant.id, Ticket.status != "closed", Ticket.created_at >= since)
            .order_by(Ticket.id)
        )
        .scalars()
        .all()
    )
    german = language == "de"
    rows = tuple(
        (f"#{t.id}", t.title, t.status.replace("_", " "), t.reporter_name, t.created_at.strftime("%Y-%m-%d"))
        for t in tickets
    )
    return ReportTable(
        title="Offene Tickets dieser Woche" if german else "Open tickets this week",
        columns=("Nr.", "Titel", "Status", "Gemeldet von", "Gemeldet am")
        if german
        else ("No.", "Title", "Status", "Reported by", "Reported on"),
        rows=rows,
        summary=(
            f"{len(rows)} offene(s) Ticket(s), gemeldet seit {since:%Y-%m-%d}"
            if german
            else f"{len(rows)} open ticket(s) reported since {since:%Y-%m-%d}"
        ),
    )
