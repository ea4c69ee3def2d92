"""The ticket plugin's hooks: its events, placeholders, recipients, pages."""
from __future__ import annotations

from pathlib import Path

from core.api import EventSpec, MenuEntry, Plugin, Recipient, Role, Variable, hookimpl

from . import defaults, models  # noqa: F401  (models: tables known before migrations run)

TICKET_CREATED = EventSpec(
    key="TICKET_CREATED",
    label="Ticket created",
    description="A new ticket was reported.",
    variables=(
        Variable("ticket.id", "number of the ticket", 123),
        Variable("ticket.title", "title of the ticket", "Heizung im Bad fällt aus"),
        Variable("ticket.description", "what the reporter wrote", "Seit gestern bleibt der Heizkörper kalt."),
        Variable("ticket.status", "status: open, in_progress, waiting, closed", "open"),
        Variable("ticket.reporter.name", "name of the person who reported it", "Erika Mustermann"),
        Variable("ticket.reporter.email", "e-mail address of the reporter", "erika@example.org"),
    ),
    roles=(Role("reporter", "the person who reported the ticket"),),
)


class TicketPlugin(Plugin):
    """Tickets with status, reporter and comments."""

    migrations = str(Path(__file__).parent / "migrations")

    @hookimpl
    def postwerk_register_events(self):
        return [TICKET_CREATED]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        if event.startswith("TICKET_"):
            return {"ticket": payload["ticket"]}
        return None

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        if not event.startswith("TICKET_") or role != "reporter":
            return None
        reporter = payload["ticket"]["reporter"]
        return [Recipient(address=reporter["email"], name=reporter["name"], language=reporter.get("language"))]

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
        return [MenuEntry("Tickets", "ticket.index")]
