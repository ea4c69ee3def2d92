"""German strings of the admin's first hour (issue 17): log-in, the start
page, stored messages shown in words, status names, and the words plugins
and provider presets declare as data; de_strings.py merges them into DE."""
DE_FIRST_HOUR = {
    "Please log in to access this page.": "Bitte melden Sie sich an, um diese Seite zu sehen.",
    "Tenant": "Mandant",
    "Unknown tenant, e-mail or password.": "Mandant, E-Mail-Adresse oder Passwort unbekannt.",
    "Log in": "Anmelden",
    "cannot connect to %(where)s: %(why)s": "keine Verbindung zu %(where)s möglich: %(why)s",
    "%(where)s did not answer in time or closed the connection: %(why)s":
        "%(where)s hat nicht rechtzeitig geantwortet oder die Verbindung geschlossen: %(why)s",
    "login refused by %(host)s: %(why)s": "Anmeldung von %(host)s abgelehnt: %(why)s",
    "TLS with %(where)s failed: %(why)s. Check port and security mode.":
        "TLS mit %(where)s fehlgeschlagen: %(why)s. Bitte Port und Verschlüsselung prüfen.",
    "STARTTLS refused: %(why)s": "STARTTLS abgelehnt: %(why)s",
    "connection lost during %(phase)s: %(why)s": "Verbindung während %(phase)s verloren: %(why)s",
    "no sender address is configured": "es ist keine Absenderadresse eingerichtet",
    "the rule is switched off": "die Regel ist ausgeschaltet",
    "no recipient found for %(ref)s": "kein Empfänger für %(ref)s gefunden",
    "the plugin '%(name)s' is disabled for this tenant": "das Plugin „%(name)s“ ist für diesen Mandanten deaktiviert",
    "paused: the plugin '%(name)s' is disabled for this tenant":
        "pausiert: das Plugin „%(name)s“ ist für diesen Mandanten deaktiviert",
    "the template '%(key)s' does not exist": "die Vorlage „%(key)s“ gibt es nicht",
    "there is no distribution list named %(name)s (or it is empty)":
        "es gibt keinen Verteiler namens %(name)s (oder er ist leer)",
    "Connection refused": "Verbindung abgelehnt",
    "Connection reset by peer": "Verbindung von der Gegenseite zurückgesetzt",
    "Name or service not known": "Name oder Dienst unbekannt",
    "timed out": "Zeitüberschreitung",
    "No route to host": "Keine Route zum Host",
    "Network is unreachable": "Netzwerk nicht erreichbar",
    "Waiting": "Wartend",
    "Being sent": "Wird gesendet",
    "Sent": "Gesendet",
    "Failed": "Fehlgeschlagen",
    "Bounced": "Unzustellbar zurückgekommen",
    "no SMTP server answered": "kein SMTP-Server hat geantwortet",
    "no SMTP server answered over TLS": "kein SMTP-Server hat über TLS geantwortet",
    "no POP3 server answered": "kein POP3-Server hat geantwortet",
    "no IMAP server answered": "kein IMAP-Server hat geantwortet",
    "Unknown": "Unklar",
    "Cancelled": "Abgebrochen",
    "Start page": "Startseite",
    "Mail overview": "Mail-Übersicht",
    "Nothing was saved.": "Nichts wurde gespeichert.",
    "Please correct:": "Bitte korrigieren:",
    "The page was open too long or was opened twice; please send it again.":
        "Die Seite war zu lange oder doppelt geöffnet; bitte erneut absenden.",
    "No SMTP server configured: mail waits in the queue.":
        "Kein SMTP-Server eingerichtet: Mails warten in der Warteschlange.",
    "none enabled": "keines aktiviert",
    "Recent mail": "Letzte Mails",
    "No mail yet.": "Noch keine Mails.",
    "(rule is off)": "(Regel ist aus)",
    "would send this once switched on": "würde dies senden, sobald sie eingeschaltet ist",
    # Core placeholders (core.mail.variables.CORE_VARIABLES).
    "name of the tenant": "Name des Mandanten",
    "short name of the tenant": "Kurzname des Mandanten",
    "brand colour of the tenant (#rrggbb)": "Markenfarbe des Mandanten (#rrggbb)",
    "date and time of rendering (UTC)": "Datum und Uhrzeit der Erstellung (UTC)",
    "the address this mail goes to": "die Adresse, an die diese Mail geht",
    "the recipient's name, when known": "der Name des Empfängers, wenn bekannt",
    "the language of this mail (de or en)": "die Sprache dieser Mail (de oder en)",
    "Placeholders every event offers: tenant and time.": "Platzhalter, die jedes Ereignis bietet: Mandant und Zeit.",
    # The homepage plugin.
    "A public inquiry form per tenant, with spam protection and an inbox for the office.":
        "Ein öffentliches Anfrageformular je Mandant, mit Spamschutz und einem Eingang für das Büro.",
    "New inquiry": "Neue Anfrage",
    "Someone sent the public inquiry form.": "Jemand hat das öffentliche Anfrageformular abgeschickt.",
    "the person who sent the form (confirmation)": "die Person, die das Formular abgeschickt hat (Bestätigung)",
    "the tenant's office: the address set on the inquiries page, else the list 'office'":
        "das Büro des Mandanten: die Adresse auf der Anfragen-Seite, sonst der Verteiler „office“",
    "number of the inquiry": "Nummer der Anfrage",
    "name of the inquirer": "Name der anfragenden Person",
    "e-mail address of the inquirer": "E-Mail-Adresse der anfragenden Person",
    "phone number (may be empty)": "Telefonnummer (kann leer sein)",
    "what the inquirer wrote": "was die anfragende Person geschrieben hat",
    "the property the inquiry refers to (may be empty)": "das Objekt, auf das sich die Anfrage bezieht (kann leer sein)",
    "language the form was filled in (de or en)": "Sprache, in der das Formular ausgefüllt wurde (de oder en)",
    "when it arrived (UTC)": "wann sie eintraf (UTC)",
    "link to the inquiry in the admin": "Link zur Anfrage in der Verwaltung",
    # The inbound mail plugin.
    "Polls POP3, IMAP and Exchange mailboxes; mail becomes tickets and comments.":
        "Ruft POP3-, IMAP- und Exchange-Postfächer ab; aus Mails werden Tickets und Kommentare.",
    # The ticket plugin.
    "Tickets with status, reporter, assignee, watchers, comments and attachments.":
        "Tickets mit Status, meldender Person, Zuständigen, Beobachtern, Kommentaren und Anhängen.",
    "Ticket created": "Ticket angelegt",
    "A new ticket was reported.": "Ein neues Ticket wurde gemeldet.",
    "the person who reported the ticket": "die Person, die das Ticket gemeldet hat",
    "the staff member the ticket is assigned to": "die zuständige Mitarbeiterin oder der zuständige Mitarbeiter",
    "everyone watching the ticket": "alle, die das Ticket beobachten",
    "number of the ticket (shown as [#123] in subjects)": "Nummer des Tickets (im Betreff als [#123])",
    "title of the ticket": "Titel des Tickets",
    "what the reporter wrote": "was die meldende Person geschrieben hat",
    "status: open, in_progress, waiting, closed": "Status: open, in_progress, waiting, closed (offen, in Arbeit, wartend, erledigt)",
    "name of the person who reported it": "Name der meldenden Person",
    "e-mail address of the reporter": "E-Mail-Adresse der meldenden Person",
    "language of the reporter (de or en)": "Sprache der meldenden Person (de oder en)",
    "name of the assigned staff member (may be empty)": "Name der zuständigen Person (kann leer sein)",
    "e-mail address of the assignee": "E-Mail-Adresse der zuständigen Person",
    "language of the assignee": "Sprache der zuständigen Person",
    "addresses of the ticket's watchers": "Adressen der Beobachter des Tickets",
    "Ticket status changed": "Ticketstatus geändert",
    "A ticket moved from one status to another.": "Ein Ticket hat seinen Status gewechselt.",
    "the status before the change": "der Status vor der Änderung",
    "Ticket commented": "Ticket kommentiert",
    "Someone commented on a ticket, on the web or by replying to a mail.":
        "Jemand hat ein Ticket kommentiert, im Web oder per Antwort auf eine Mail.",
    "number of the comment": "Nummer des Kommentars",
    "who wrote the comment": "wer den Kommentar geschrieben hat",
    "the author's e-mail address": "die E-Mail-Adresse der Person, die kommentiert hat",
    "the comment's text": "der Text des Kommentars",
    "where it came from: web or mail": "woher er kam: web (Web) oder mail (Mail)",
    # The contract plugin.
    "Rental contracts between landlord and renter: created, signed, terminated.":
        "Mietverträge zwischen Vermieter und Mieter: angelegt, unterschrieben, gekündigt.",
    "Contract created": "Vertrag angelegt",
    "A contract was drawn up (draft).": "Ein Vertrag wurde aufgesetzt (Entwurf).",
    "the renter (Mieter)": "der Mieter",
    "the landlord (Vermieter)": "der Vermieter",
    "internal id of the contract": "interne Nummer des Vertrags",
    "contract number": "Vertragsnummer",
    "draft, signed or terminated": "draft, signed oder terminated (Entwurf, unterschrieben, gekündigt)",
    "start of the tenancy (YYYY-MM-DD)": "Beginn des Mietverhältnisses (JJJJ-MM-TT)",
    "end of the tenancy (YYYY-MM-DD; empty while open-ended)": "Ende des Mietverhältnisses (JJJJ-MM-TT; leer, solange unbefristet)",
    "monthly rent, e.g. 850.00": "Monatsmiete, z. B. 850.00",
    "currency of the rent": "Währung der Miete",
    "address of the rented property": "Adresse des Mietobjekts",
    "why the contract was terminated (may be empty)": "warum der Vertrag gekündigt wurde (kann leer sein)",
    "name of the renter (Mieter)": "Name des Mieters",
    "salutation of the renter (Mieter) (Frau, Herr, ...)": "Anrede des Mieters (Frau, Herr, ...)",
    "e-mail address of the renter (Mieter)": "E-Mail-Adresse des Mieters",
    "language of the renter (Mieter) (de or en)": "Sprache des Mieters (de oder en)",
    "name of the landlord (Vermieter)": "Name des Vermieters",
    "salutation of the landlord (Vermieter) (Frau, Herr, ...)": "Anrede des Vermieters (Frau, Herr, ...)",
    "e-mail address of the landlord (Vermieter)": "E-Mail-Adresse des Vermieters",
    "language of the landlord (Vermieter) (de or en)": "Sprache des Vermieters (de oder en)",
    "Contract signed": "Vertrag unterschrieben",
    "Both parties signed the contract.": "Beide Seiten haben den Vertrag unterschrieben.",
    "Contract terminated": "Vertrag gekündigt",
    "The contract was terminated; vertrag.end is its last day.":
        "Der Vertrag wurde gekündigt; vertrag.end ist sein letzter Tag.",
    # Provider presets (core.mail.presets).
    "Gmail / Google Workspace": "Gmail / Google Workspace",
    "Sign in with OAuth2 (Link account). App passwords work too with auth 'password', if the account allows them.":
        "Mit OAuth2 anmelden (Konto verknüpfen). App-Passwörter gehen mit der Anmeldung „Benutzername und "
        "Passwort“ auch, wenn das Konto sie erlaubt.",
    "the full Google account address": "die vollständige Adresse des Google-Kontos",
    "Microsoft 365 / Exchange Online": "Microsoft 365 / Exchange Online",
    "SMTP AUTH must be enabled for the mailbox (otherwise 5.7.139). Register an app in Entra ID with the "
    "delegated permission SMTP.Send.":
        "SMTP AUTH muss für das Postfach eingeschaltet sein (sonst 5.7.139). Eine App in Entra ID mit der "
        "delegierten Berechtigung SMTP.Send registrieren.",
    "the mailbox's address (UPN)": "die Adresse des Postfachs (UPN)",
    "SendGrid": "SendGrid",
    "The sender address must be a verified sender or domain.":
        "Die Absenderadresse muss ein bestätigter Absender oder eine bestätigte Domain sein.",
    "the literal word apikey; the password is the API key": "das Wort apikey; das Passwort ist der API-Schlüssel",
    "Mailgun": "Mailgun",
    "EU region: smtp.eu.mailgun.org.": "EU-Region: smtp.eu.mailgun.org.",
    "the SMTP login of the sending domain (postmaster@your-domain)":
        "die SMTP-Anmeldung der Absenderdomain (postmaster@ihre-domain)",
    "Postmark": "Postmark",
    "The sender signature or domain must be confirmed.": "Die Absendersignatur oder Domain muss bestätigt sein.",
    "the server API token (also as password)": "das Server-API-Token (auch als Passwort)",
    "Own Postfix (internal relay)": "Eigener Postfix (interner Relay)",
    "A relay on the same host or network that accepts mail from this machine. Upload its CA certificate if it "
    "uses an internal one.":
        "Ein Relay auf demselben Rechner oder im selben Netz, das Mails von diesem Rechner annimmt. Sein "
        "CA-Zertifikat hochladen, wenn es ein internes verwendet.",
    # Default rule names (postwerk_default_rules), shown translated until the admin renames a rule.
    "Confirm an inquiry to the inquirer": "Anfrage der anfragenden Person bestätigen",
    "Tell the office about a new inquiry": "Das Büro über eine neue Anfrage informieren",
    "Confirm a new ticket to its reporter": "Neues Ticket der meldenden Person bestätigen",
    "Tell the reporter about a status change": "Die meldende Person über eine Statusänderung informieren",
    "Tell the watchers about a status change": "Die Beobachter über eine Statusänderung informieren",
    "Send a new comment to the reporter": "Neuen Kommentar an die meldende Person senden",
    "Send a new comment to the assignee": "Neuen Kommentar an die zuständige Person senden",
    "Send a new comment to the watchers": "Neuen Kommentar an die Beobachter senden",
    "New contract to the mieter": "Neuer Vertrag an den Mieter",
    "New contract to the vermieter": "Neuer Vertrag an den Vermieter",
    "Signed contract to the mieter": "Unterschriebener Vertrag an den Mieter",
    "Signed contract to the vermieter": "Unterschriebener Vertrag an den Vermieter",
    "Termination to the mieter": "Kündigung an den Mieter",
    "Termination to the vermieter": "Kündigung an den Vermieter",
    # Deleting softly (core/admin/trash.py) and the audit in words.
    "Undo": "Rückgängig",
    "Restore": "Wiederherstellen",
    "Restored.": "Wiederhergestellt.",
    "This can no longer be restored (after %(days)s days, or restored already).":
        "Das lässt sich nicht mehr wiederherstellen (nach %(days)s Tagen, oder schon wiederhergestellt).",
    "It cannot be restored: another one with the same name exists now.":
        "Es lässt sich nicht wiederherstellen: inzwischen gibt es ein anderes mit demselben Namen.",
    "changed: %(fields)s": "geändert: %(fields)s",
    "restored": "wiederhergestellt",
    # Rules list: why an active rule cannot fire, the switch, rules that send twice.
    "active, but cannot fire": "aktiv, kann aber nicht auslösen",
    "Switch off": "Ausschalten",
    "Switch on": "Einschalten",
    "Rule switched on.": "Regel eingeschaltet.",
    "Rule switched off.": "Regel ausgeschaltet.",
    "Rule #%(id)s and %(others)s both send %(event)s to %(recipient)s: each recipient gets two mails.":
        "Regel #%(id)s und %(others)s senden beide %(event)s an %(recipient)s: jeder Empfänger bekommt zwei Mails.",
    "Same event and recipients as %(others)s: two mails each.":
        "Gleiches Ereignis und gleiche Empfänger wie %(others)s: je zwei Mails.",
    # Mail overview: the sending state from the last attempts and tests; the check after a save.
    "Not sending: %(count)s of the last %(total)s attempts failed: %(error)s":
        "Der Versand klappt nicht: %(count)s der letzten %(total)s Versuche sind gescheitert: %(error)s",
    "The last test failed: %(answer)s": "Der letzte Test ist gescheitert: %(answer)s",
    "Sending works: the last mail went out.": "Der Versand funktioniert: die letzte Mail ist hinausgegangen.",
    "The last test worked; no mail was sent since.": "Der letzte Test hat geklappt; seitdem wurde keine Mail gesendet.",
    "Not tried yet: send a test mail to see whether sending works.":
        "Noch nicht ausprobiert: eine Testmail senden, um zu sehen, ob der Versand funktioniert.",
    "still retried": "wird weiter versucht",
    "Login": "Anmeldung",
    "Trying the connection with the saved settings …": "Verbindung mit den gespeicherten Einstellungen wird geprüft …",
    "Saved. Use “Test connection” to try the server.": "Gespeichert. Mit „Verbindung testen“ den Server ausprobieren.",
    # Template editor (issue 17).
    "unknown placeholder '%(name)s' — did you mean '%(suggestion)s'?":
        "unbekannter Platzhalter „%(name)s“ — meinten Sie „%(suggestion)s“?",
    "unknown placeholder '%(name)s'": "unbekannter Platzhalter „%(name)s“",
    "empty placeholder '%(name)s': it is missing or has no value":
        "leerer Platzhalter „%(name)s“: es gibt ihn nicht, oder er hat keinen Wert",
    "syntax error: %(why)s": "Syntaxfehler: %(why)s",
    "The key “%(key)s” differs from the existing “%(other)s” only by '-', '_' or case: rules name one of them exactly.":
        "Der Schlüssel „%(key)s“ unterscheidet sich vom vorhandenen „%(other)s“ nur durch '-', '_' oder "
        "Groß-/Kleinschreibung: Regeln nennen genau einen davon.",
    "This template exists in %(language)s only: recipients who read %(other)s get this version too.":
        "Diese Vorlage gibt es nur auf %(language)s: Empfänger, die %(other)s lesen, bekommen auch diese Fassung.",
    # The tenant's time zone.
    "Unknown time zone %(name)s: use a name such as Europe/Berlin.":
        "Unbekannte Zeitzone %(name)s: bitte einen Namen wie Europe/Berlin verwenden.",
    "Times are shown in %(name)s.": "Zeiten werden in %(name)s angezeigt.",
    "Time zone": "Zeitzone",
    "Times on every page are shown in": "Zeiten auf allen Seiten werden angezeigt in",
    # Log search.
    "Search": "Suchen",
    "e.g. an address, a rule, an error": "z. B. eine Adresse, eine Regel, ein Fehler",
    "error": "Fehler",
    "warning": "Warnung",
    "info": "Info",
    "Preview with": "Vorschau mit",
    "worked": "hat geklappt",
    "failed": "fehlgeschlagen",
}
