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
    # Attachments
    "Attachments": "Anhänge",
    "File": "Datei",
    "Type": "Typ",
    "Size": "Größe",
    "%(kb)s kB": "%(kb)s kB",
    "No attachments.": "Keine Anhänge.",
    # Report mails
    "Report mails": "Berichtsmails",
    "A report of a plugin as a PDF in your branding, mailed as an attachment on a schedule. Each schedule is an "
    "AUTOMATE task: switch it off, change its cron, run it now and read its history on the AUTOMATE page.":
        "Ein Bericht eines Plugins als PDF in Ihrem Erscheinungsbild, nach Zeitplan als Anhang gemailt. Jeder "
        "Zeitplan ist eine AUTOMATE-Aufgabe: auf der AUTOMATE-Seite abschalten, Cron ändern, jetzt ausführen "
        "und den Verlauf lesen.",
    "Report": "Bericht",
    "Schedule (cron, UTC)": "Zeitplan (Cron, UTC)",
    "Recipients": "Empfänger",
    "Last result": "Letztes Ergebnis",
    "Run now": "Jetzt ausführen",
    "No report is scheduled.": "Kein Bericht ist geplant.",
    "Schedule a report": "Bericht planen",
    "No enabled plugin offers a report.": "Kein aktiviertes Plugin bietet einen Bericht an.",
    "all admins of the tenant": "alle Admins des Mandanten",
    "all users of the tenant": "alle Benutzer des Mandanten",
    "Format": "Format",
    "Schedule": "Planen",
    "Not scheduled: %(error)s": "Nicht geplant: %(error)s",
    "Report scheduled (task %(key)s).": "Bericht geplant (Aufgabe %(key)s).",
    "Report schedule deleted.": "Berichtsplan gelöscht.",
    "Open tickets this week": "Offene Tickets dieser Woche",
    "tickets reported in the last 7 days that are not closed":
        "in den letzten 7 Tagen gemeldete Tickets, die nicht geschlossen sind",
    "Contracts ending in the next 90 days": "Verträge, die in den nächsten 90 Tagen enden",
    "signed or terminated contracts whose last day is within 90 days":
        "unterschriebene oder gekündigte Verträge, deren letzter Tag in den nächsten 90 Tagen liegt",
}
