"""Default templates (German and English) and rules of the homepage plugin."""

from core.api import RuleSpec, TemplateSpec, branded_html, branded_text

_QUOTE = (
    '<blockquote style="border-left:3px solid {{ tenant.colour }};margin:0;padding:4px 12px;'
    'white-space:pre-wrap">{{ anfrage.message }}</blockquote>'
)

_WORDS = {
    ("inquiry_confirmation", "de"): dict(
        subject="Ihre Anfrage bei {{ tenant.name }}",
        html=f"""<p>Guten Tag {{{{ anfrage.name }}}},</p>
  <p>vielen Dank für Ihre Anfrage{{% if anfrage.property %}} zu <strong>{{{{ anfrage.property }}}}</strong>{{% endif %}}.
  Wir haben sie am {{{{ anfrage.received_at }}}} erhalten und melden uns so bald wie möglich.</p>
  {_QUOTE}
  <p>Freundliche Grüße<br>{{{{ tenant.name }}}}</p>""",
        text="""Guten Tag {{ anfrage.name }},

vielen Dank für Ihre Anfrage{% if anfrage.property %} zu {{ anfrage.property }}{% endif %}. Wir haben sie am {{ anfrage.received_at }} erhalten und melden uns so bald wie möglich.

Ihre Nachricht:
{{ anfrage.message }}

Freundliche Grüße
{{ tenant.name }}""",
    ),
    ("inquiry_confirmation", "en"): dict(
        subject="Your inquiry to {{ tenant.name }}",
        html=f"""<p>Hello {{{{ anfrage.name }}}},</p>
  <p>thank you for your inquiry{{% if anfrage.property %}} about <strong>{{{{ anfrage.property }}}}</strong>{{% endif %}}.
  We received it on {{{{ anfrage.received_at }}}} and will get back to you as soon as possible.</p>
  {_QUOTE}
  <p>Kind regards<br>{{{{ tenant.name }}}}</p>""",
        text="""Hello {{ anfrage.name }},

thank you for your inquiry{% if anfrage.property %} about {{ anfrage.property }}{% endif %}. We received it on {{ anfrage.received_at }} and will get back to you as soon as possible.

Your message:
{{ anfrage.message }}

Kind regards
{{ tenant.name }}""",
    ),
    ("inquiry_office", "de"): dict(
        subject="Neue Anfrage von {{ anfrage.name }}",
        html=f"""<p>Über das Anfrageformular ist eine neue Anfrage eingegangen ({{{{ anfrage.received_at }}}}).</p>
  <table style="border-collapse:collapse">
    <tr><td style="padding:2px 12px 2px 0;color:#667085">Name</td><td>{{{{ anfrage.name }}}}</td></tr>
    <tr><td style="padding:2px 12px 2px 0;color:#667085">E-Mail</td><td>{{{{ anfrage.email }}}}</td></tr>
    <tr><td style="padding:2px 12px 2px 0;color:#667085">Telefon</td><td>{{{{ anfrage.phone or "–" }}}}</td></tr>
    <tr><td style="padding:2px 12px 2px 0;color:#667085">Objekt</td><td>{{{{ anfrage.property or "–" }}}}</td></tr>
  </table>
  {_QUOTE}
  <p><a href="{{{{ anfrage.url }}}}" style="color:{{{{ tenant.colour }}}}">Anfrage öffnen</a></p>""",
        text="""Neue Anfrage ({{ anfrage.received_at }})

Name:    {{ anfrage.name }}
E-Mail:  {{ anfrage.email }}
Telefon: {{ anfrage.phone or "–" }}
Objekt:  {{ anfrage.property or "–" }}

{{ anfrage.message }}

Anfrage öffnen: {{ anfrage.url }}""",
    ),
    ("inquiry_office", "en"): dict(
        subject="New inquiry from {{ anfrage.name }}",
        html=f"""<p>A new inquiry arrived through the inquiry form ({{{{ anfrage.received_at }}}}).</p>
  <table style="border-collapse:collapse">
    <tr><td style="padding:2px 12px 2px 0;color:#667085">Name</td><td>{{{{ anfrage.name }}}}</td></tr>
    <tr><td style="padding:2px 12px 2px 0;color:#667085">E-mail</td><td>{{{{ anfrage.email }}}}</td></tr>
    <tr><td style="padding:2px 12px 2px 0;color:#667085">Phone</td><td>{{{{ anfrage.phone or "–" }}}}</td></tr>
    <tr><td style="padding:2px 12px 2px 0;color:#667085">Property</td><td>{{{{ anfrage.property or "–" }}}}</td></tr>
  </table>
  {_QUOTE}
  <p><a href="{{{{ anfrage.url }}}}" style="color:{{{{ tenant.colour }}}}">Open the inquiry</a></p>""",
        text="""New inquiry ({{ anfrage.received_at }})

Name:     {{ anfrage.name }}
E-mail:   {{ anfrage.email }}
Phone:    {{ anfrage.phone or "–" }}
Property: {{ anfrage.property or "–" }}

{{ anfrage.message }}

Open the inquiry: {{ anfrage.url }}""",
    ),
}

TEMPLATES = [
    TemplateSpec(
        key=key,
        language=lang,
        subject=w["subject"],
        body_html=branded_html(w["html"]),
        body_text=branded_text(w["text"]),
    )
    for (key, lang), w in _WORDS.items()
]

RULES = [
    RuleSpec(
        event="NEW_INQUIRY",
        recipient="role:inquirer",
        template_key="inquiry_confirmation",
        name="Confirm an inquiry to the inquirer",
    ),
    RuleSpec(
        event="NEW_INQUIRY",
        recipient="role:office",
        template_key="inquiry_office",
        name="Tell the office about a new inquiry",
    ),
]
