"""The maintenance plugin: one event, one role, default templates in German and English."""

from __future__ import annotations

from pathlib import Path

from core.api import EventSpec, Plugin, Recipient, Role, RuleSpec, TemplateSpec, Variable, branded_html, hookimpl

MAINTENANCE_SCHEDULED = EventSpec(
    key="MAINTENANCE_SCHEDULED",
    label="Maintenance scheduled",
    variables=(
        Variable("maintenance.building", "address of the building", "Hauptstraße 5, Berlin"),
        Variable("maintenance.date", "day of the work (YYYY-MM-DD)", "2026-12-14"),
        Variable("maintenance.work", "what is done", "Wartung der Heizung", samples={"en": "Heating maintenance"}),
        Variable("maintenance.water_off", "whether the water is turned off", True),
        Variable(
            "maintenance.residents",
            "the residents to tell",
            [{"name": "Erika Mustermann", "email": "erika@example.org", "language": "de"}],
        ),
    ),
    roles=(Role("residents", "the residents of the building"),),
)

SUBJECT = {
    "de": "Wartung am {{ maintenance.date }}: {{ maintenance.work }}",
    "en": "Maintenance on {{ maintenance.date }}: {{ maintenance.work }}",
}
BODY = {
    "de": "<p>Guten Tag{% if recipient.name %} {{ recipient.name }}{% endif %},</p>"
    "<p>am {{ maintenance.date }} findet in {{ maintenance.building }} statt: {{ maintenance.work }}."
    "{% if maintenance.water_off %} Das Wasser ist an diesem Tag abgestellt.{% endif %}</p>",
    "en": "<p>Hello{% if recipient.name %} {{ recipient.name }}{% endif %},</p>"
    "<p>on {{ maintenance.date }}, {{ maintenance.building }} gets: {{ maintenance.work }}."
    "{% if maintenance.water_off %} The water is off that day.{% endif %}</p>",
}


class MaintenancePlugin(Plugin):
    """Maintenance notices for the residents of a building."""

    requires_postwerk = ">=0.1"
    # Its own message catalogue, Babel domain "postwerk_maintenance": the event's label, the role,
    # the placeholders and the rule name in German (scripts/translations.py --plugin).
    translations = str(Path(__file__).parent / "translations")

    @hookimpl
    def postwerk_register_events(self):
        return [MAINTENANCE_SCHEDULED]

    @hookimpl
    def postwerk_template_variables(self, event, payload):  # a subset of the arguments is fine
        if event != "MAINTENANCE_SCHEDULED":
            return None
        return {"maintenance": payload["maintenance"]}

    @hookimpl
    def postwerk_resolve_recipients(self, event, role, payload):
        if event != "MAINTENANCE_SCHEDULED" or role != "residents":
            return None
        return [
            Recipient(address=r["email"], name=r["name"] or "", language=r["language"] or None)
            for r in payload["maintenance"]["residents"] or ()
        ]

    @hookimpl
    def postwerk_default_templates(self):
        return [
            TemplateSpec("maintenance_scheduled", lang, SUBJECT[lang], branded_html(BODY[lang]))
            for lang in ("de", "en")
        ]

    @hookimpl
    def postwerk_default_rules(self):
        return [
            RuleSpec(
                "MAINTENANCE_SCHEDULED",
                "role:residents",
                "maintenance_scheduled",
                "Tell the residents about maintenance",
            )
        ]
