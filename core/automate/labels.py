"""The admin page's words: English in the code, German here.

Kept as a mapping from the English text (the msgid) to German, like a gettext
catalogue, so the strings can move into the project's catalogue as they are.
"""
from __future__ import annotations

from collections.abc import Callable

DE = {
    "The task scheduler: it sends mail, sweeps the queue and cleans up.":
        "Der Aufgabenplaner: versendet Mails, räumt die Warteschlange auf und löscht Altes.",
    "State": "Zustand",
    "Active": "Aktiv",
    "Paused": "Pausiert",
    "Pause": "Pausieren",
    "Resume": "Fortsetzen",
    "Mail is waiting": "Mails warten",
    "Task": "Aufgabe",
    "Enabled": "Aktiviert",
    "Disabled": "Deaktiviert",
    "Enable": "Aktivieren",
    "Disable": "Deaktivieren",
    "Schedule": "Zeitplan",
    "Every (seconds)": "Alle (Sekunden)",
    "or cron (UTC)": "oder Cron (UTC)",
    "Save": "Speichern",
    "Last run": "Letzter Lauf",
    "Last result": "Letztes Ergebnis",
    "Next run": "Nächster Lauf",
    "never": "nie",
    "Run now": "Jetzt ausführen",
    "Runs at the scheduler's next tick.": "Läuft beim nächsten Takt des Planers.",
    "History": "Verlauf",
    "Started": "Gestartet",
    "Finished": "Beendet",
    "Trigger": "Auslöser",
    "Result": "Ergebnis",
    "ok": "ok",
    "failed": "fehlgeschlagen",
    "No runs yet.": "Noch keine Läufe.",
    "Retention": "Aufbewahrung",
    "Delete SENT mail and events after (days)": "Versendete Mails und Ereignisse löschen nach (Tagen)",
    "Back to AUTOMATE": "Zurück zu AUTOMATE",
    "Saved.": "Gespeichert.",
    "AUTOMATE is paused: mail waits as PENDING.": "AUTOMATE ist pausiert: Mails warten als PENDING.",
    "AUTOMATE is active again; waiting mail goes out.": "AUTOMATE ist wieder aktiv; wartende Mails gehen hinaus.",
    "Without the sweeper, mail whose wake-up Redis lost waits until it runs again.":
        "Ohne den Sweeper warten Mails, deren Weckruf Redis verloren hat, bis er wieder läuft.",
    # The core tasks' labels (TaskSpec.label).
    "Mail worker": "Mail-Versand",
    "Sweeper": "Sweeper (Warteschlange prüfen)",
    "Sends due mail. While it is off, mail waits as PENDING.":
        "Versendet fällige Mails. Solange sie aus ist, warten Mails als PENDING.",
    "Re-queues events and mail whose wake-up Redis lost; takes back mail of workers that died.":
        "Stellt Ereignisse und Mails neu ein, deren Weckruf Redis verloren hat; holt Mails abgestürzter "
        "Worker zurück.",
    # The inbound mail plugin's poller (its TaskSpec label and description).
    "Inbound mail poller": "Posteingang abrufen",
    "Reads the tenant's mailboxes and turns new mail into tickets and comments.":
        "Liest die Postfächer des Mandanten und macht aus neuen Mails Tickets und Kommentare.",
    "Deletes SENT messages and their events older than the retention period.":
        "Löscht versendete Mails und ihre Ereignisse, die älter als die Aufbewahrungsfrist sind.",
}


def translator(language: str) -> Callable[[str], str]:
    """``t("Run now")`` in the given language (English when no German is known)."""
    if language == "de":
        return lambda text: DE.get(text, text)
    return lambda text: text
