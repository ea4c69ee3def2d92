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
}
