"""German strings of system mail part B (send-time conditions, unsubscribe,
attachments, report mails); de_strings.py merges them into DE."""
DE_SYSTEM_MAIL_B = {
    # Send-time conditions
    "Send only if (checked when the mail is due)": "Nur senden, wenn (geprüft, wenn die Mail fällig ist)",
    "always (no condition)": "immer (keine Bedingung)",
    "The event %(event)s offers these conditions: %(names)s":
        "Das Ereignis %(event)s bietet diese Bedingungen: %(names)s",
    "Cancelled: the rule's send-time condition no longer held":
        "Abgebrochen: die Sendebedingung der Regel galt nicht mehr",
    "not sent: the condition '%(what)s' no longer holds":
        "nicht gesendet: die Bedingung „%(what)s“ gilt nicht mehr",
    "no enabled plugin checks the send-time condition '%(name)s' of %(event)s":
        "kein aktiviertes Plugin prüft die Sendebedingung „%(name)s“ von %(event)s",
    "only if the ticket is not closed when the mail is due":
        "nur wenn das Ticket nicht geschlossen ist, wenn die Mail fällig ist",
    # Unsubscribe
    "Bulk (goes last; carries an unsubscribe link)": "Massenversand (zuletzt; mit Abmeldelink)",
    "not sent: %(address)s unsubscribed from bulk mail on %(date)s":
        "nicht gesendet: %(address)s hat sich am %(date)s vom Massenversand abgemeldet",
    "Unsubscribe": "Abmelden",
    "This unsubscribe link is not valid. Please use the link from the mail exactly as it is.":
        "Dieser Abmeldelink ist ungültig. Bitte den Link aus der Mail unverändert verwenden.",
    "%(address)s receives no more newsletters and other bulk mail from %(tenant)s.":
        "%(address)s erhält keine Newsletter und anderen Massenmails von %(tenant)s mehr.",
    "Mail you need for a contract, a ticket or your account still reaches you.":
        "Mails, die Sie für einen Vertrag, ein Ticket oder Ihr Konto brauchen, erhalten Sie weiterhin.",
    "Stop newsletters and other bulk mail from %(tenant)s to %(address)s?":
        "Newsletter und andere Massenmails von %(tenant)s an %(address)s abbestellen?",
    "added by %(who)s": "hinzugefügt von %(who)s",
    "%(address)s receives no more bulk mail.": "%(address)s erhält keine Massenmails mehr.",
    "%(address)s receives bulk mail again.": "%(address)s erhält wieder Massenmails.",
    "Unsubscribed from bulk mail": "Vom Massenversand abgemeldet",
    "These addresses used the unsubscribe link of a bulk mail (or an admin added them). Rules of priority "
    "“bulk” skip them; transactional and system mail still reach them and never carry the link.":
        "Diese Adressen haben den Abmeldelink einer Massenmail benutzt (oder ein Admin hat sie eingetragen). "
        "Regeln mit der Priorität „Massenversand“ überspringen sie; transaktionale und System-Mails erreichen "
        "sie weiterhin und tragen den Link nie.",
    "Source": "Quelle",
    "Note": "Notiz",
    "unsubscribe link": "Abmeldelink",
    "admin": "Admin",
    "Nobody has unsubscribed.": "Niemand hat sich abgemeldet.",
    "Add an opt-out": "Abmeldung eintragen",
}
