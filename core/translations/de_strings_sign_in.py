"""German UI strings of sign-in by mail: password reset and sign-in codes (issue 13)."""
DE_SIGN_IN = {
    "New password": "Neues Passwort",
    "At least %(min)d characters.": "Mindestens %(min)d Zeichen.",
    "New password again": "Neues Passwort wiederholen",
    "The two passwords differ.": "Die beiden Passwörter unterscheiden sich.",
    "Too many requests from your address: please try again later.":
        "Zu viele Anfragen von Ihrer Adresse: bitte später erneut versuchen.",
    "The password cannot be changed right now: the session store (Redis) cannot be reached.":
        "Das Passwort kann gerade nicht geändert werden: der Sitzungsspeicher (Redis) ist nicht erreichbar.",
    "Your password has been changed. Every session of your account has ended: please log in.":
        "Ihr Passwort wurde geändert. Alle Sitzungen Ihres Kontos wurden beendet: bitte melden Sie sich an.",
    "optional: each user chooses": "freiwillig: jede Person entscheidet selbst",
    "required for admins": "Pflicht für Admins",
    "required for everyone": "Pflicht für alle",
    "The sign-in code cannot be mailed: the tenant's template for it is broken. An admin can use a recovery code.":
        "Der Anmeldecode kann nicht gesendet werden: die Vorlage dafür ist fehlerhaft. Admins können einen "
        "Wiederherstellungscode verwenden.",
    "Code from the mail, or a recovery code": "Code aus der Mail oder ein Wiederherstellungscode",
    "Remember this browser for 30 days": "Diesen Browser 30 Tage lang merken",
    "The sign-in has expired: please log in again.": "Die Anmeldung ist abgelaufen: bitte erneut anmelden.",
    "This code no longer works (expired, used or too many wrong tries): please log in again.":
        "Dieser Code gilt nicht mehr (abgelaufen, schon benutzt oder zu viele Fehlversuche): bitte erneut "
        "anmelden.",
    "Wrong code.": "Falscher Code.",
    "Too many codes asked for: please wait a few minutes.":
        "Zu viele Codes angefordert: bitte einige Minuten warten.",
    "A new code is on its way; earlier ones no longer work.":
        "Ein neuer Code ist unterwegs; frühere gelten nicht mehr.",
    "Ask me for a code by mail after the password": "Nach dem Passwort einen Code per Mail abfragen",
    "Sign-in codes for this tenant": "Anmeldecodes für diesen Mandanten",
    "Saved.": "Gespeichert.",
    "Sign-in": "Anmeldung",
    "After your password you are asked for a code we mail to %(email)s.":
        "Nach dem Passwort fragen wir nach einem Code, den wir an %(email)s senden.",
    "A password alone logs you in.": "Das Passwort allein meldet Sie an.",
    "Recovery codes": "Wiederherstellungscodes",
    "Each recovery code logs you in once instead of a mailed code, for when the mail does not arrive. "
    "Unused codes: %(left)d.":
        "Jeder Wiederherstellungscode meldet Sie einmal statt eines gemailten Codes an, falls die Mail nicht "
        "ankommt. Unbenutzte Codes: %(left)d.",
    "Write these codes down or print them now: they are not shown again, and the earlier ones no longer work.":
        "Schreiben Sie diese Codes jetzt auf oder drucken Sie sie: sie werden nicht noch einmal gezeigt, und "
        "die früheren gelten nicht mehr.",
    "Make new recovery codes": "Neue Wiederherstellungscodes erzeugen",
    "Sign-in code": "Anmeldecode",
    "We have mailed a 6-digit code to %(email)s. It works for %(minutes)d minutes.":
        "Wir haben einen 6-stelligen Code an %(email)s gesendet. Er gilt %(minutes)d Minuten.",
    "Send a new code": "Neuen Code senden",
    "No mail? A recovery code (like 1a2b3c4d-5e6f7a8b) works in the same field.":
        "Keine Mail? Ein Wiederherstellungscode (wie 1a2b3c4d-5e6f7a8b) funktioniert im selben Feld.",
    "Forgot password": "Passwort vergessen",
    "If this account exists, a mail with a link to set a new password is on its way. The link works once, "
    "for %(minutes)d minutes.":
        "Falls dieses Konto existiert, ist eine Mail mit einem Link für ein neues Passwort unterwegs. Der Link "
        "gilt einmal, %(minutes)d Minuten lang.",
    "Back to the log-in": "Zurück zur Anmeldung",
    "Enter your tenant and your e-mail address: we send you a link to set a new password.":
        "Geben Sie Ihren Mandanten und Ihre E-Mail-Adresse ein: wir senden Ihnen einen Link für ein neues "
        "Passwort.",
    "Send link": "Link senden",
    "Forgot password?": "Passwort vergessen?",
    "This link is not valid: it was used already, has expired, or a newer one was sent.":
        "Dieser Link gilt nicht: er wurde schon benutzt, ist abgelaufen, oder ein neuerer wurde gesendet.",
    "Ask for a new link": "Neuen Link anfordern",
    "Set password": "Passwort festlegen",
}
