"""Storing an inquiry and emitting NEW_INQUIRY in the same transaction."""

from __future__ import annotations

from core.api import db, emit, utcnow

from .models import HomepageSettings, Inquiry


def payload(inquiry: Inquiry, url: str) -> dict:
    return {
        "anfrage": {
            "id": inquiry.id,
            "name": inquiry.name,
            "email": inquiry.email,
            "phone": inquiry.phone,
            "message": inquiry.message,
            "property": inquiry.property_ref,
            "language": inquiry.language,
            "received_at": inquiry.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "url": url,
        }
    }


def submit_inquiry(
    tenant_id: int,
    *,
    name: str,
    email: str,
    phone: str,
    message: str,
    property_ref: str = "",
    language: str = "de",
    url_for_inquiry=None,
) -> Inquiry:
    """Store an inquiry and emit NEW_INQUIRY; the caller commits.

    ``url_for_inquiry(id)`` builds the admin's link to it (the view knows the host).
    """
    inquiry = Inquiry(
        tenant_id=tenant_id,
        name=name.strip(),
        email=email.strip(),
        phone=(phone or "").strip(),
        message=message.strip(),
        property_ref=(property_ref or "").strip(),
        language=language if language in ("de", "en") else "de",
        created_at=utcnow(),
    )
    db.session.add(inquiry)
    db.session.flush()
    url = url_for_inquiry(inquiry.id) if url_for_inquiry else ""
    emit(tenant_id, "NEW_INQUIRY", payload(inquiry, url))
    return inquiry


def office_address(tenant_id: int) -> str:
    settings = db.session.get(HomepageSettings, tenant_id)
    return settings.office_email if settings else ""


def set_office_address(tenant_id: int, address: str) -> None:
    settings = db.session.get(HomepageSettings, tenant_id) or HomepageSettings(tenant_id=tenant_id)
    settings.office_email = address
    db.session.add(settings)
