"""The ticket plugin's hooks: its events, placeholders, recipients, pages, inbound mail."""

from __future__ import annotations

from pathlib import Path

from core.api import EventSpec, MenuEntry, Plugin, Recipient, Role, SendCondition, Variable, hookimpl

from . import defaults, models  # noqa: F401  (models: tables known before migrations run)

_TICKET = (
    Variable("ticket.id", "number of the ticket (shown as [#123] in subjects)", 123),
    Variable(
        "ticket.title", "title of the ticket", "Heizung im Bad fällt aus", samples={"en": "Bathroom heating is out"}
    ),
    Variable(
        "ticket.description",
        "what the reporter wrote",
        "Seit gestern bleibt der Heizkörper kalt.",
        samples={"en": "The radiator has been cold since yesterday."},
    ),
    Variable("ticket.status", "status: open, in_progress, waiting, closed", "open"),
    Variable(
        "ticket.reporter.name", "name of the person who reported it", "Erika Mustermann", samples={"en": "Jane Doe"}
    ),
    Variable("ticket.reporter.email", "e-mail address of the reporter", "erika@example.org"),
    Variable("ticket.reporter.language", "language of the reporter (de or en)", "de", samples={"en": "en"}),
    Variable(
        "ticket.assignee.name",
        "name of the assigned staff member (may be empty)",
        "Max Hausmeister",
        samples={"en": "John Caretaker"},
    ),
    Variable("ticket.assignee.email", "e-mail address of the assignee", "max@example.org"),
    Variable("ticket.assignee.language", "language of the assignee", "de", samples={"en": "en"}),
    Variable("ticket.watchers", "addresses of the ticket's watchers", ["verwaltung@example.org"]),
)
_ROLES = (
    Role("reporter", "the person who reported the ticket"),
    Role("assignee", "the staff member the ticket is assigned to"),
    Role("watchers", "everyone watching the ticket"),
)

# "Remind the assignee 24 hours after TICKET_CREATED, only if it is still open."
TICKET_OPEN = "ticket_open"
_CONDITIONS = (SendCondition(TICKET_OPEN, "only if the ticket is not closed when the mail is due"),)

TICKET_CREATED = EventSpec(
    key="TICKET_CREATED",
    label="Ticket created",
    description="A new ticket was reported.",
    variables=_TICKET,
    roles=_ROLES,
    conditions=_CONDITIONS,
)

TICKET_STATUS_CHANGED = EventSpec(
    key="TICKET_STATUS_CHANGED",
    label="Ticket status changed",
    description="A ticket moved from one status to another.",
    variables=_TICKET + (Variable("ticket.old_status", "the status before the change", "open"),),
    roles=_ROLES,
    conditions=_CONDITIONS,
)

TICKET_COMMENTED = EventSpec(
    key="TICKET_COMMENTED",
    label="Ticket commented",
    description="Someone commented on a ticket, on the web or by replying to a mail.",
    variables=_TICKET
    + (
        Variable("comment.id", "number of the comment", 5),
        Variable("comment.author_name", "who wrote the comment", "Max Hausmeister", samples={"en": "John Caretaker"}),
        Variable("comment.author_email", "the author's e-mail address", "max@example.org"),
        Variable(
            "comment.body",
            "the comment's text",
            "Der Techniker kommt am Montag.",
            samples={"en": "The technician is coming on Monday."},
        ),
        Variable("comment.source", "where it came from: web or mail", "web"),
    ),
    roles=_ROLES,
    conditions=_CONDITIONS,
)

EVENTS = (TICKET_CREATED, TICKET_STATUS_CHANGED, TICKET_COMMENTED)
_KEYS = {e.key for e in EVENTS}


class TicketPlugin(Plugin):
    """Tickets with status, reporter, assignee, watchers, comments and attachments."""

    migrations = str(Path(__file__).parent / "migrations")
    # Its own message catalogue (Babel domain "ticket"): labels, task and rule names in German.
    translations = str(Path(__file__).parent / "translations")

    @hookimpl
    def postwerk_register_events(self):
        return list(EVENTS)

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        if event not in _KEYS:
            return None
        values = {"ticket": payload["ticket"]}
        if "comment" in payload:
            values["comment"] = payload["comment"]
        return values

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        if event not in _KEYS:
            return None
        ticket = payload.get("ticket") or {}
        if role == "reporter":
            people = [_person(ticket.get("reporter"))]
        elif role == "assignee":
            people = [_person(ticket.get("assignee"))]
        elif role == "watchers":
            people = [Recipient(address=a) for a in ticket.get("watchers") or () if a]
        else:
            return None
        # Nobody is told about their own comment.
        author = ((payload.get("comment") or {}).get("author_email") or "").lower()
        return [p for p in people if p is not None and p.address.lower() != author]

    @hookimpl
    def postwerk_send_condition(self, tenant, event, condition, payload):
        if event not in _KEYS or condition != TICKET_OPEN:
            return None
        from .service import is_open

        return is_open(tenant.id, (payload.get("ticket") or {}).get("id"))

    @hookimpl
    def postwerk_reports(self):
        from .reports import OPEN_THIS_WEEK

        return [OPEN_THIS_WEEK]

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

    @hookimpl
    def postwerk_known_sender(self, tenant, address):
        from .inbound import known_sender

        return known_sender(tenant.id, address) or None

    @hookimpl
    def postwerk_inbound_mail(self, tenant, mail):
        from .inbound import handle

        return handle(tenant, mail)


def _person(data) -> Recipient | None:
    if not data or not data.get("email"):
        return None
    return Recipient(address=data["email"], name=data.get("name") or "", language=data.get("language") or None)
