"""German strings of the inbound mail plugin's newer pages (skip, processed
mail, suppression list); de_strings.py merges them into DE."""
DE_INBOUND = {
    "Skip this mail": "Diese Mail überspringen",
    "The mail that keeps failing is kept aside unread; the mail behind it is handled.":
        "Die Mail, die immer wieder scheitert, wird ungelesen zurückgehalten; die Mails dahinter werden verarbeitet.",
    "%(name)s: no mail is waiting to be skipped (it may have been handled meanwhile).":
        "%(name)s: Keine Mail wartet darauf, übersprungen zu werden (sie wurde vielleicht inzwischen verarbeitet).",
    "Processed mail": "Verarbeitete Mails",
    "Outcome": "Ergebnis",
    "duplicate of #%(id)s": "Duplikat von #%(id)s",
    "kept aside: download": "zurückgehalten: herunterladen",
    "No processed mail.": "Keine verarbeiteten Mails.",
    "Suppression list": "Sperrliste",
    "Mail is not sent to these addresses: they bounced (a hard bounce, or repeated soft bounces) or an admin added them. Rules skip them; the queue and the dry run say why.":
        "An diese Adressen wird keine Mail gesendet: Sie kamen als unzustellbar zurück (endgültig oder wiederholt vorübergehend) oder ein Administrator hat sie eingetragen. Regeln überspringen sie; Warteschlange und Probelauf nennen den Grund.",
    "Add": "Hinzufügen",
    "Address": "Adresse",
    "suppressed": "gesperrt",
    "%(count)s soft bounce(s)": "%(count)s vorübergehende Rückläufer",
    "No address is suppressed.": "Keine Adresse ist gesperrt.",
    "Add an address": "Adresse hinzufügen",
    "added by an admin": "von einem Administrator eingetragen",
    "Not added: %(error)s": "Nicht hinzugefügt: %(error)s",
    "%(address)s is on the suppression list.": "%(address)s steht auf der Sperrliste.",
    "%(address)s was removed from the suppression list.": "%(address)s wurde von der Sperrliste entfernt.",
    "sender not verified": "Absender nicht bestätigt",
    "Allow unknown senders (off: only the tenant's users and people its plugins know, e.g. ticket reporters)":
        "Unbekannte Absender zulassen (aus: nur Benutzer des Mandanten und Personen, die seine Plugins kennen, z. B. Meldende von Tickets)",
}
