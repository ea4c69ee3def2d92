"""Default templates and rules the ticket plugin ships (German and English).

The ticket number appears in every subject as ``[#123]`` so that replies can
be matched back to the ticket by the inbound mail plugin.
"""

from core.api import RuleSpec, TemplateSpec, branded_html, branded_text

_STATUS = {
    "de": '{% set label = {"open": "offen", "in_progress": "in Bearbeitung", "waiting": "wartend", '
    '"closed": "geschlossen"} %}',
    "en": '{% set label = {"open": "open", "in_progress": "in progress", "waiting": "waiting", "closed": "closed"} %}',
}
_BOX = (
    '<p style="background:#f6f7f9;padding:12px;border-radius:6px">'
    "<strong>[#{{ ticket.id }}] {{ ticket.title }}</strong></p>"
)
_HELLO = {
    "de": "Hallo{% if recipient.name %} {{ recipient.name }}{% endif %},",
    "en": "Hello{% if recipient.name %} {{ recipient.name }}{% endif %},",
}

_TEXTS = {
    "ticket_created": {
        "de": (
            "[#{{ ticket.id }}] Ihre Meldung: {{ ticket.title }}",
            "vielen Dank für Ihre Meldung. Wir haben sie unter der folgenden Nummer aufgenommen "
            "und melden uns, sobald es Neuigkeiten gibt.",
            "",
        ),
        "en": (
            "[#{{ ticket.id }}] Your report: {{ ticket.title }}",
            "thank you for your report. We have recorded it under the number below and will be in "
            "touch as soon as there is news.",
            "",
        ),
    },
    "ticket_status_changed": {
        "de": (
            "[#{{ ticket.id }}] Neuer Status: {{ label.get(ticket.status, ticket.status) }} – {{ ticket.title }}",
            "der Status der Meldung hat sich geändert: von <em>{{ label.get(ticket.old_status, ticket.old_status) }}</em> "
            "zu <strong>{{ label.get(ticket.status, ticket.status) }}</strong>.",
            "",
        ),
        "en": (
            "[#{{ ticket.id }}] New status: {{ label.get(ticket.status, ticket.status) }} – {{ ticket.title }}",
            "the status of the ticket has changed from <em>{{ label.get(ticket.old_status, ticket.old_status) }}</em> "
            "to <strong>{{ label.get(ticket.status, ticket.status) }}</strong>.",
            "",
        ),
    },
    "ticket_commented": {
        "de": (
            "[#{{ ticket.id }}] Neuer Kommentar: {{ ticket.title }}",
            "{{ comment.author_name }} hat die Meldung kommentiert:",
            '<blockquote style="border-left:3px solid {{ tenant.colour }};margin:0;padding:4px 12px;'
            'white-space:pre-wrap">{{ comment.body }}</blockquote>'
            "<p>Antworten Sie einfach auf diese E-Mail; die Nummer im Betreff bleibt dabei erhalten.</p>",
        ),
        "en": (
            "[#{{ ticket.id }}] New comment: {{ ticket.title }}",
            "{{ comment.author_name }} commented on the ticket:",
            '<blockquote style="border-left:3px solid {{ tenant.colour }};margin:0;padding:4px 12px;'
            'white-space:pre-wrap">{{ comment.body }}</blockquote>'
            "<p>Just reply to this e-mail and keep the number in the subject.</p>",
        ),
    },
}
_CLOSING = {"de": "Freundliche Grüße", "en": "Kind regards"}
_HELLO_TEXT = {
    "de": "Hallo{% if recipient.name %} {{ recipient.name }}{% endif %},",
    "en": "Hello{% if recipient.name %} {{ recipient.name }}{% endif %},",
}


def _strip_tags(html: str) -> str:
    import re

    return re.sub(r"<[^>]+>", "", html)


def _template(key: str, lang: str) -> TemplateSpec:
    subject, lead, extra = _TEXTS[key][lang]
    prefix = _STATUS[lang] if "label." in subject + lead else ""
    html = branded_html(f"""{prefix}
  <p>{_HELLO[lang]}</p>
  <p>{lead}</p>
  {extra}
  {_BOX}
  <p>{_CLOSING[lang]}<br>{{{{ tenant.name }}}}</p>""")
    extra_text = "\n{{ comment.body }}\n" if key == "ticket_commented" else ""
    text = branded_text(f"""{prefix}{_HELLO_TEXT[lang]}

{_strip_tags(lead)}
{extra_text}
[#{{{{ ticket.id }}}}] {{{{ ticket.title }}}}

{_CLOSING[lang]}
{{{{ tenant.name }}}}""")
    return TemplateSpec(key=key, language=lang, subject=(prefix + subject), body_html=html, body_text=text)


TEMPLATES = [_template(key, lang) for key in _TEXTS for lang in ("de", "en")]

RULES = [
    RuleSpec(
        event="TICKET_CREATED",
        recipient="role:reporter",
        template_key="ticket_created",
        name="Confirm a new ticket to its reporter",
    ),
    RuleSpec(
        event="TICKET_STATUS_CHANGED",
        recipient="role:reporter",
        template_key="ticket_status_changed",
        name="Tell the reporter about a status change",
    ),
    RuleSpec(
        event="TICKET_STATUS_CHANGED",
        recipient="role:watchers",
        template_key="ticket_status_changed",
        name="Tell the watchers about a status change",
    ),
    RuleSpec(
        event="TICKET_COMMENTED",
        recipient="role:reporter",
        template_key="ticket_commented",
        name="Send a new comment to the reporter",
    ),
    RuleSpec(
        event="TICKET_COMMENTED",
        recipient="role:assignee",
        template_key="ticket_commented",
        name="Send a new comment to the assignee",
    ),
    RuleSpec(
        event="TICKET_COMMENTED",
        recipient="role:watchers",
        template_key="ticket_commented",
        name="Send a new comment to the watchers",
    ),
]
