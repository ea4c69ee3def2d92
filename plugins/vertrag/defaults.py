"""Default templates (German and English) and rules of the vertrag plugin:
each event goes to both parties, each in their own language."""

from core.api import RuleSpec, TemplateSpec, branded_html, branded_text

_FACTS = {
    "de": [
        ("Vertragsnummer", "vertrag.number"),
        ("Objekt", "vertrag.property_address"),
        ("Mieter", "mieter.name"),
        ("Vermieter", "vermieter.name"),
        ("Beginn", "vertrag.start"),
        ("Monatsmiete", "vertrag.rent"),
    ],
    "en": [
        ("Contract number", "vertrag.number"),
        ("Property", "vertrag.property_address"),
        ("Renter", "mieter.name"),
        ("Landlord", "vermieter.name"),
        ("Start", "vertrag.start"),
        ("Monthly rent", "vertrag.rent"),
    ],
}
_END = {"de": "Ende", "en": "End"}

_WORDS = {
    "contract_created": {
        "de": (
            "Mietvertrag {{ vertrag.number }} angelegt",
            "der Mietvertrag für <strong>{{ vertrag.property_address }}</strong> wurde angelegt. "
            "Bitte prüfen Sie die Angaben; die Unterlagen zur Unterschrift folgen.",
        ),
        "en": (
            "Rental contract {{ vertrag.number }} drawn up",
            "the rental contract for <strong>{{ vertrag.property_address }}</strong> has been drawn up. "
            "Please check the details; the documents for signing will follow.",
        ),
    },
    "contract_signed": {
        "de": (
            "Mietvertrag {{ vertrag.number }} unterschrieben",
            "der Mietvertrag für <strong>{{ vertrag.property_address }}</strong> ist von beiden Seiten "
            "unterschrieben und gilt ab dem {{ vertrag.start }}.",
        ),
        "en": (
            "Rental contract {{ vertrag.number }} signed",
            "the rental contract for <strong>{{ vertrag.property_address }}</strong> has been signed by both "
            "parties and applies from {{ vertrag.start }}.",
        ),
    },
    "contract_terminated": {
        "de": (
            "Mietvertrag {{ vertrag.number }} gekündigt",
            "der Mietvertrag für <strong>{{ vertrag.property_address }}</strong> wurde gekündigt. "
            "Das Mietverhältnis endet am {{ vertrag.end }}."
            "{% if vertrag.termination_reason %} Grund: {{ vertrag.termination_reason }}{% endif %}",
        ),
        "en": (
            "Rental contract {{ vertrag.number }} terminated",
            "the rental contract for <strong>{{ vertrag.property_address }}</strong> has been terminated. "
            "The tenancy ends on {{ vertrag.end }}."
            "{% if vertrag.termination_reason %} Reason: {{ vertrag.termination_reason }}{% endif %}",
        ),
    },
}
_HELLO = {"de": "Guten Tag {{ recipient.name }},", "en": "Hello {{ recipient.name }},"}
_CLOSING = {"de": "Freundliche Grüße", "en": "Kind regards"}


def _value(path: str) -> str:
    if path == "vertrag.rent":
        return "{{ vertrag.rent }} {{ vertrag.currency }}"
    return "{{ " + path + " }}"


def _template(key: str, lang: str) -> TemplateSpec:
    subject, lead = _WORDS[key][lang]
    facts = list(_FACTS[lang]) + ([(_END[lang], "vertrag.end")] if key == "contract_terminated" else [])
    rows = "\n".join(
        f'    <tr><td style="padding:3px 12px;color:#667085">{label}</td><td style="padding:3px 12px 3px 0">{_value(p)}</td></tr>'
        for label, p in facts
    )
    html = branded_html(f"""  <p>{_HELLO[lang]}</p>
  <p>{lead}</p>
  <table style="border-collapse:collapse;background:#f6f7f9">
{rows}
  </table>
  <p>{_CLOSING[lang]}<br>{{{{ tenant.name }}}}</p>""")
    width = max(len(label) for label, _ in facts) + 2
    lines = "\n".join(f"{(label + ':').ljust(width)}{_value(p)}" for label, p in facts)
    plain_lead = lead.replace("<strong>", "").replace("</strong>", "")
    text = branded_text(f"""{_HELLO[lang]}

{plain_lead}

{lines}

{_CLOSING[lang]}
{{{{ tenant.name }}}}""")
    return TemplateSpec(key=key, language=lang, subject=subject, body_html=html, body_text=text)


TEMPLATES = [_template(key, lang) for key in _WORDS for lang in ("de", "en")]

RULES = [
    RuleSpec(event=event, recipient=f"role:{role}", template_key=key, name=f"{label} to the {role}")
    for event, key, label in (
        ("CONTRACT_CREATED", "contract_created", "New contract"),
        ("CONTRACT_SIGNED", "contract_signed", "Signed contract"),
        ("CONTRACT_TERMINATED", "contract_terminated", "Termination"),
    )
    for role in ("mieter", "vermieter")
]
