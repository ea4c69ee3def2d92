"""The homepage plugin's hooks: NEW_INQUIRY, its placeholders and recipients."""

from __future__ import annotations

from pathlib import Path

from core.api import EventSpec, MenuEntry, Plugin, Recipient, Role, Variable, distribution_list, hookimpl

from . import defaults, models  # noqa: F401  (models: tables known before migrations run)
from .models import NAME

NEW_INQUIRY = EventSpec(
    key="NEW_INQUIRY",
    label="New inquiry",
    description="Someone sent the public inquiry form.",
    variables=(
        Variable("anfrage.id", "number of the inquiry", 42),
        Variable("anfrage.name", "name of the inquirer", "Erika Mustermann", samples={"en": "Jane Doe"}),
        Variable("anfrage.email", "e-mail address of the inquirer", "erika@example.org"),
        Variable("anfrage.phone", "phone number (may be empty)", "+49 30 1234567"),
        Variable(
            "anfrage.message",
            "what the inquirer wrote",
            "Ist die Wohnung in der Lindenstraße noch frei?",
            samples={"en": "Is the flat in Lindenstraße still available?"},
        ),
        Variable(
            "anfrage.property",
            "the property the inquiry refers to (may be empty)",
            "Lindenstraße 5, WE 3",
            samples={"en": "Lindenstraße 5, flat 3"},
        ),
        Variable("anfrage.language", "language the form was filled in (de or en)", "de", samples={"en": "en"}),
        Variable("anfrage.received_at", "when it arrived (UTC)", "2026-11-22 10:15 UTC"),
        Variable("anfrage.url", "link to the inquiry in the admin", "https://postwerk.example/inquiries/42"),
    ),
    roles=(
        Role("inquirer", "the person who sent the form (confirmation)"),
        Role("office", "the tenant's office: the address set on the inquiries page, else the list 'office'"),
    ),
)


class HomepagePlugin(Plugin):
    """A public inquiry form per tenant, with spam protection and an inbox for the office."""

    migrations = str(Path(__file__).parent / "migrations")
    # Its own message catalogue (Babel domain "homepage"): labels, task and rule names in German.
    translations = str(Path(__file__).parent / "translations")

    @hookimpl
    def postwerk_register_events(self):
        return [NEW_INQUIRY]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        if event != "NEW_INQUIRY":
            return None
        return {"anfrage": payload["anfrage"]}

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        if event != "NEW_INQUIRY":
            return None
        anfrage = payload.get("anfrage") or {}
        if role == "inquirer":
            if not anfrage.get("email"):
                return []
            return [
                Recipient(
                    address=anfrage["email"], name=anfrage.get("name") or "", language=anfrage.get("language") or None
                )
            ]
        if role == "office":
            from .service import office_address

            address = office_address(tenant.id)
            addresses = [address] if address else distribution_list(tenant.id, "office")
            # The office reads in the tenant's language.
            return [Recipient(address=a, language=tenant.language) for a in addresses]
        return None

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
        return [MenuEntry("Inquiries", NAME + ".index")]
