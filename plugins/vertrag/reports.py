"""The vertrag plugin's report for scheduled report mails: contracts ending soon."""

from __future__ import annotations

from datetime import timedelta

from core.api import ReportSpec, ReportTable, TenantRef, db, utcnow

from .models import Contract

DAYS = 90
ENDING_SOON = ReportSpec(
    key="vertrag.ending_soon",
    label="Contracts ending in the next 90 days",
    function="plugins.vertrag.reports:ending_soon",
    description="signed or terminated contracts whose last day is within 90 days",
)


def ending_soon(tenant: TenantRef, language: str) -> ReportTable:
    today = utcnow().date()
    until = today + timedelta(days=DAYS)
    contracts = (
        db.session.execute(
            db.select(Contract)
            .where(
                Contract.tenant_id == tenant.id,
                Contract.status.in_(("signed", "terminated")),
                Contract.end_date.is_not(None),
                Contract.end_date >= today,
                Contract.end_date <= until,
            )
            .order_by(Contract.end_date, Contract.id)
        )
        .scalars()
        .all()
    )
    german = language == "de"
    rows = tuple(
        (c.number, c.property_address, c.mieter_name, c.end_date.isoformat(), f"{c.rent_cents / 100:.2f} EUR")
        for c in contracts
    )
    return ReportTable(
        title=f"Verträge, die in den nächsten {DAYS} Tagen enden"
        if german
        else f"Contracts ending in the next {DAYS} days",
        columns=("Vertrag", "Objekt", "Mieter", "Ende", "Miete")
        if german
        else ("Contract", "Property", "Renter", "End", "Rent"),
        rows=rows,
        summary=(
            f"{len(rows)} Vertrag/Verträge mit Ende zwischen {today} und {until}"
            if german
            else f"{len(rows)} contract(s) ending between {today} and {until}"
        ),
    )
