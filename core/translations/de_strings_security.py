"""German UI strings of the security features (issue 16)."""
DE_SECURITY = {
    "The server changed, so the stored secret was removed: enter it again (%(fields)s).":
        "Der Server hat sich geändert, deshalb wurde das gespeicherte Geheimnis entfernt: "
        "bitte erneut eingeben (%(fields)s).",
    "The server changed, so the stored password was removed: enter it again.":
        "Der Server hat sich geändert, deshalb wurde das gespeicherte Passwort entfernt: bitte erneut eingeben.",
    "Not allowed as server: %(reason)s": "Als Server nicht erlaubt: %(reason)s",
    "Not allowed as identity provider URL: %(reason)s": "Als Adresse des Identitätsanbieters nicht erlaubt: %(reason)s",
    "Without TLS the password would cross the network in clear: security “none” with a login is for this machine only.":
        "Ohne TLS ginge das Passwort im Klartext durchs Netz: Verschlüsselung „Keine“ mit Anmeldung nur für "
        "diesen Rechner.",
    "Without TLS the POP3 password would cross the network in clear: “none” is for this machine only.":
        "Ohne TLS ginge das POP3-Passwort im Klartext durchs Netz: „Keine“ nur für diesen Rechner.",
    "Too many failed log-ins: this account or your address is locked for a while.":
        "Zu viele fehlgeschlagene Anmeldungen: dieses Konto oder Ihre Adresse ist für eine Weile gesperrt.",
}
