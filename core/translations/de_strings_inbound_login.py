"""German strings of "same login as the incoming mailbox" (issue 16): the
mailbox password goes to another SMTP server only when the admin allows it."""
DE_INBOUND_LOGIN = {
    "Incoming mailbox password (to allow it for this SMTP server)":
        "Passwort des Eingangspostfachs (um es für diesen SMTP-Server zu erlauben)",
    "The password goes only to the mailbox's own server, unless you allow another SMTP server by entering it "
    "here; changing the server withdraws that.":
        "Das Passwort geht nur an den eigenen Server des Postfachs, es sei denn, Sie erlauben einen anderen "
        "SMTP-Server, indem Sie es hier eingeben; ein Wechsel des Servers nimmt das zurück.",
    "allowed for %(server)s": "erlaubt für %(server)s",
    "This is not the incoming mailbox's password; nothing was allowed.":
        "Das ist nicht das Passwort des Eingangspostfachs; nichts wurde erlaubt.",
    "The incoming mailbox's password was saved for its own server (%(mailbox)s), not for %(server)s. Enter it "
    "here to allow sending it to %(server)s, or choose another login.":
        "Das Passwort des Eingangspostfachs wurde für dessen eigenen Server (%(mailbox)s) gespeichert, nicht für "
        "%(server)s. Geben Sie es hier ein, um es an %(server)s senden zu lassen, oder wählen Sie eine andere "
        "Anmeldung.",
    "unknown": "unbekannt",
}
