"""Default templates and rules the ticket plugin ships (German and English).

The ticket number appears in subjects as ``[#123]`` so that replies can be
matched back to the ticket by the inbound mail plugin.
"""
from core.api import RuleSpec, TemplateSpec

_HTML = """<div style="font-family:Arial,Helvetica,sans-serif;max-width:560px;margin:0 auto;color:#1d2330">
  <div style="border-top:4px solid {{{{ tenant.colour }}}};padding:16px 0">
    <strong style="font-size:18px">{{{{ tenant.name }}}}</strong>
  </div>
  <p>{greeting} {{{{ ticket.reporter.name }}}},</p>
  <p>{body}</p>
  <p style="background:#f6f7f9;padding:12px;border-radius:6px"><strong>[#{{{{ ticket.id }}}}] {{{{ ticket.title }}}}</strong></p>
  <p>{closing}<br>{{{{ tenant.name }}}}</p>
</div>"""

_TEXT = """{greeting} {{{{ ticket.reporter.name }}}},

{body}

[#{{{{ ticket.id }}}}] {{{{ ticket.title }}}}

{closing}
{{{{ tenant.name }}}}
"""

_WORDS = {
    "de": dict(subject="[#{{ ticket.id }}] Ihre Meldung: {{ ticket.title }}", greeting="Hallo",
               body="vielen Dank für Ihre Meldung. Wir haben sie unter der folgenden Nummer aufgenommen "
                    "und melden uns, sobald es Neuigkeiten gibt.",
               closing="Freundliche Grüße"),
    "en": dict(subject="[#{{ ticket.id }}] Your report: {{ ticket.title }}", greeting="Hello",
               body="thank you for your report. We have recorded it under the number below and will be in "
                    "touch as soon as there is news.",
               closing="Kind regards"),
}

TEMPLATES = [
    TemplateSpec(key="ticket_created", language=lang, subject=w["subject"],
                 body_html=_HTML.format(**w), body_text=_TEXT.format(**w))
    for lang, w in _WORDS.items()
]

RULES = [RuleSpec(event="TICKET_CREATED", recipient="role:reporter", template_key="ticket_created",
                  name="Confirm a new ticket to its reporter")]
