"""The signed contract as a PDF, attached to CONTRACT_SIGNED's mail.

Made from the event's payload, the contract as it was when it was signed,
so a mail sent later still carries what both parties signed.
"""

from __future__ import annotations

from core.api import MailAttachment, TenantRef, pdf_document


def _party(data: dict) -> str:
    name = " ".join(p for p in ((data or {}).get("salutation") or "", (data or {}).get("name") or "") if p)
    email = (data or {}).get("email") or ""
    return f"{name} <{email}>" if email else name


def signed_contract(tenant: TenantRef, payload: dict) -> MailAttachment:
    contract = payload.get("vertrag") or {}
    number = str(contract.get("number") or contract.get("id") or "")
    english = tenant.language == "en"
    rows = [
        ("Contract number" if english else "Vertragsnummer", number),
        ("Status" if english else "Status", "signed" if english else "unterschrieben"),
        ("Renter (Mieter)" if english else "Mieter", _party(payload.get("mieter"))),
        ("Landlord (Vermieter)" if english else "Vermieter", _party(payload.get("vermieter"))),
        ("Property" if english else "Mietobjekt", contract.get("property_address") or ""),
        ("Start" if english else "Beginn", contract.get("start") or ""),
        ("End" if english else "Ende", contract.get("end") or ("open-ended" if english else "unbefristet")),
        (
            "Monthly rent" if english else "Monatliche Miete",
            f"{contract.get('rent') or ''} {contract.get('currency') or 'EUR'}".strip(),
        ),
    ]
    title = f"Rental contract {number} (signed)" if english else f"Mietvertrag {number} (unterschrieben)"
    content = pdf_document(
        tenant,
        title,
        table=(("Field", "Value") if english else ("Angabe", "Wert"), rows),
        footer=("Signed by both parties." if english else "Von beiden Parteien unterschrieben."),
    )
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in number) or "vertrag"
    return MailAttachment(filename=f"Vertrag-{safe}.pdf", content_type="application/pdf", content=content)
