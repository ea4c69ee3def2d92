"""German UI strings of the security features (issue 16)."""
DE_SECURITY = {
    "The server changed, so the stored secret was removed: enter it again (%(fields)s).":
        "Der Server hat sich geändert, deshalb wurde das gespeicherte Geheimnis entfernt: "
        "bitte erneut eingeben (%(fields)s).",
    "The server changed, so the stored password was removed: enter it again.":
        "Der Server hat sich geändert, deshalb wurde das gespeicherte Passwort entfernt: bitte erneut eingeben.",
}
