"""The vertrag plugin's hooks: contract events, placeholders, the two parties as recipients."""

from __future__ import annotations

from pathlib import Path

from core.api import EventSpec, MenuEntry, Plugin, Recipient, Role, Variable, hookimpl

from . import defaults, models  # noqa: F401  (models: tables known before migrations run)
from .models import NAME, PARTIES


def _party(
    role: str, label: str, name: str, salutation: str, email: str, english: tuple[str, str]
) -> tuple[Variable, ...]:
    """A party's placeholders; ``english``: its sample name and salutation for English templates."""
    return (
        Variable(f"{role}.name", f"name of the {label}", name, samples={"en": english[0]}),
        Variable(
            f"{role}.salutation", f"salutation of the {label} (Frau, Herr, ...)", salutation, samples={"en": english[1]}
        ),
        Variable(f"{role}.email", f"e-mail address of the {label}", email),
        Variable(f"{role}.language", f"language of the {label} (de or en)", "de", samples={"en": "en"}),
    )


VARIABLES = (
    (
        Variable("vertrag.id", "internal id of the contract", 17),
        Variable("vertrag.number", "contract number", "MV-2026-017"),
        Variable("vertrag.status", "draft, signed or terminated", "signed"),
        Variable("vertrag.start", "start of the tenancy (YYYY-MM-DD)", "2026-12-01"),
        Variable("vertrag.end", "end of the tenancy (YYYY-MM-DD; empty while open-ended)", ""),
        Variable("vertrag.rent", "monthly rent, e.g. 850.00", "850.00"),
        Variable("vertrag.currency", "currency of the rent", "EUR"),
        Variable("vertrag.property_address", "address of the rented property", "Lindenstraße 5, 10115 Berlin"),
        Variable("vertrag.termination_reason", "why the contract was terminated (may be empty)", ""),
    )
    + _party("mieter", "renter (Mieter)", "Erika Mustermann", "Frau", "erika@example.org", ("Jane Doe", "Ms"))
    + _party("vermieter", "landlord (Vermieter)", "Hans Vermieter", "Herr", "hans@example.org", ("John Landlord", "Mr"))
)

ROLES = (Role("mieter", "the renter (Mieter)"), Role("vermieter", "the landlord (Vermieter)"))

CONTRACT_CREATED = EventSpec(
    "CONTRACT_CREATED", "Contract created", VARIABLES, ROLES, "A contract was drawn up (draft)."
)
CONTRACT_SIGNED = EventSpec("CONTRACT_SIGNED", "Contract signed", VARIABLES, ROLES, "Both parties signed the contract.")
CONTRACT_TERMINATED = EventSpec(
    "CONTRACT_TERMINATED",
    "Contract terminated",
    VARIABLES,
    ROLES,
    "The contract was terminated; vertrag.end is its last day.",
)
EVENTS = (CONTRACT_CREATED, CONTRACT_SIGNED, CONTRACT_TERMINATED)
_KEYS = {e.key for e in EVENTS}


class VertragPlugin(Plugin):
    """Rental contracts between landlord and renter: created, signed, terminated."""

    migrations = str(Path(__file__).parent / "migrations")
    # Its own message catalogue (Babel domain "vertrag"): labels, task and rule names in German.
    translations = str(Path(__file__).parent / "translations")

    @hookimpl
    def postwerk_register_events(self):
        return list(EVENTS)

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        if event not in _KEYS:
            return None
        return {"vertrag": payload["vertrag"], "mieter": payload["mieter"], "vermieter": payload["vermieter"]}

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        if event not in _KEYS or role not in PARTIES:
            return None
        party = payload.get(role) or {}
        if not party.get("email"):
            return []
        # The party's language picks the template version.
        return [Recipient(address=party["email"], name=party.get("name") or "", language=party.get("language") or None)]

    @hookimpl
    def postwerk_mail_attachments(self, tenant, event, payload):
        if event != "CONTRACT_SIGNED":
            return None
        from .documents import signed_contract

        return [signed_contract(tenant, payload)]

    @hookimpl
    def postwerk_reports(self):
        from .reports import ENDING_SOON

        return [ENDING_SOON]

    @hookimpl
    def postwerk_default_templates(self):
        return defaults.TEMPLATES

    @hookimpl
    def postwerk_default_rules(self):
        return defaults.RULES

    @hookimpl
    def postwerk_blueprints(self):
        from .views import bp

        return [bp]

    @hookimpl
    def postwerk_admin_menu(self):
        return [MenuEntry("Contracts", NAME + ".index")]
