"""The admin page's words in German and English.

A small table rather than a gettext catalogue: the page is the only user, and
the language follows the admin (their own setting, else the tenant's).
"""
from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "AUTOMATE", "de": "AUTOMATE"},
    "intro": {"en": "The task scheduler: it sends mail, sweeps the queue and cleans up.",
              "de": "Der Aufgabenplaner: versendet Mails, räumt die Warteschlange auf und löscht Altes."},
    "state": {"en": "State", "de": "Zustand"},
    "active": {"en": "Active", "de": "Aktiv"},
    "paused": {"en": "Paused", "de": "Pausiert"},
    "pause": {"en": "Pause", "de": "Pausieren"},
    "resume": {"en": "Resume", "de": "Fortsetzen"},
    "mail_waits": {"en": "Mail is waiting", "de": "Mails warten"},
    "task": {"en": "Task", "de": "Aufgabe"},
    "enabled": {"en": "Enabled", "de": "Aktiviert"},
    "disabled": {"en": "Disabled", "de": "Deaktiviert"},
    "enable": {"en": "Enable", "de": "Aktivieren"},
    "disable": {"en": "Disable", "de": "Deaktivieren"},
    "schedule": {"en": "Schedule", "de": "Zeitplan"},
    "interval": {"en": "Every (seconds)", "de": "Alle (Sekunden)"},
    "cron": {"en": "or cron (UTC)", "de": "oder Cron (UTC)"},
    "save": {"en": "Save", "de": "Speichern"},
    "last_run": {"en": "Last run", "de": "Letzter Lauf"},
    "last_result": {"en": "Last result", "de": "Letztes Ergebnis"},
    "next_run": {"en": "Next run", "de": "Nächster Lauf"},
    "never": {"en": "never", "de": "nie"},
    "run_now": {"en": "Run now", "de": "Jetzt ausführen"},
    "run_requested": {"en": "Runs at the scheduler's next tick.", "de": "Läuft beim nächsten Takt des Planers."},
    "history": {"en": "History", "de": "Verlauf"},
    "started": {"en": "Started", "de": "Gestartet"},
    "finished": {"en": "Finished", "de": "Beendet"},
    "trigger": {"en": "Trigger", "de": "Auslöser"},
    "result": {"en": "Result", "de": "Ergebnis"},
    "ok": {"en": "ok", "de": "ok"},
    "failed": {"en": "failed", "de": "fehlgeschlagen"},
    "no_runs": {"en": "No runs yet.", "de": "Noch keine Läufe."},
    "retention": {"en": "Retention", "de": "Aufbewahrung"},
    "retention_days": {"en": "Delete SENT mail and events after (days)",
                       "de": "Versendete Mails und Ereignisse löschen nach (Tagen)"},
    "back": {"en": "Back to AUTOMATE", "de": "Zurück zu AUTOMATE"},
    "saved": {"en": "Saved.", "de": "Gespeichert."},
    "now_paused": {"en": "AUTOMATE is paused: mail waits as PENDING.",
                   "de": "AUTOMATE ist pausiert: Mails warten als PENDING."},
    "now_active": {"en": "AUTOMATE is active again; waiting mail goes out.",
                   "de": "AUTOMATE ist wieder aktiv; wartende Mails gehen hinaus."},
    "sweeper_off": {"en": "Without the sweeper, mail whose wake-up Redis lost waits until it runs again.",
                    "de": "Ohne den Sweeper warten Mails, deren Weckruf Redis verloren hat, bis er wieder läuft."},
}

TASK_LABELS: dict[str, dict[str, str]] = {
    "mail_worker": {"en": "Mail worker", "de": "Mail-Versand"},
    "sweeper": {"en": "Sweeper", "de": "Sweeper (Warteschlange prüfen)"},
    "retention": {"en": "Retention", "de": "Aufbewahrung (Altes löschen)"},
}


def words(language: str) -> dict[str, str]:
    language = language if language in ("de", "en") else "en"
    return {key: texts[language] for key, texts in LABELS.items()}


def task_label(key: str, default: str, language: str) -> str:
    return TASK_LABELS.get(key, {}).get(language, default)
