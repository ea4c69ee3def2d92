"""The vertrag plugin's tables (its own Alembic branch: migrations/)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.api import UTCDateTime, db, utcnow

NAME = "vertrag"
STATUSES = ("draft", "signed", "terminated")
PARTIES = ("mieter", "vermieter")


class Contract(db.Model):
    """A rental contract; both parties are kept on the contract itself, as
    they were agreed (a later change of a person elsewhere does not alter it)."""

    __tablename__ = "vertrag_contract"
    __table_args__ = (UniqueConstraint("tenant_id", "number"), {"info": {"plugin": NAME}})

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    number: Mapped[str] = mapped_column(String(50))
    property_address: Mapped[str] = mapped_column(String(300))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    # Cents: exact, and no Decimal type SQLite would only emulate.
    rent_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    notes: Mapped[str] = mapped_column(Text, default="")

    mieter_name: Mapped[str] = mapped_column(String(200))
    mieter_salutation: Mapped[str] = mapped_column(String(50), default="")
    mieter_email: Mapped[str] = mapped_column(String(254))
    mieter_language: Mapped[str] = mapped_column(String(2), default="de")
    vermieter_name: Mapped[str] = mapped_column(String(200))
    vermieter_salutation: Mapped[str] = mapped_column(String(50), default="")
    vermieter_email: Mapped[str] = mapped_column(String(254))
    vermieter_language: Mapped[str] = mapped_column(String(2), default="de")

    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    termination_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def rent(self) -> str:
        return f"{self.rent_cents // 100}.{self.rent_cents % 100:02d}"

    def party(self, role: str) -> dict:
        return {
            "name": getattr(self, f"{role}_name"),
            "salutation": getattr(self, f"{role}_salutation"),
            "email": getattr(self, f"{role}_email"),
            "language": getattr(self, f"{role}_language"),
        }

    def snapshot(self) -> dict:
        """The event payload: the contract as it was when the event happened."""
        return {
            "vertrag": {
                "id": self.id,
                "number": self.number,
                "status": self.status,
                "start": self.start_date.isoformat(),
                "end": self.end_date.isoformat() if self.end_date else "",
                "rent": self.rent,
                "currency": "EUR",
                "property_address": self.property_address,
                "termination_reason": self.termination_reason or "",
            },
            "mieter": self.party("mieter"),
            "vermieter": self.party("vermieter"),
        }
