"""German strings of plugin fault isolation (failed events, broken
plugins); de_strings.py merges them into DE."""
DE_PLUGINS = {
    "Failed events": "Fehlgeschlagene Ereignisse",
    "Events whose mail a faulty plugin held up. Nothing of them is lost: once the plugin is fixed or disabled, "
    "run them again; only the parts that failed run.":
        "Ereignisse, deren Mails ein fehlerhaftes Plugin aufgehalten hat. Nichts davon geht verloren: Sobald das "
        "Plugin repariert oder deaktiviert ist, hier erneut ausführen; nur die fehlgeschlagenen Teile laufen.",
    "Run all again": "Alle erneut ausführen",
    "Run again": "Erneut ausführen",
    "No failed events.": "Keine fehlgeschlagenen Ereignisse.",
    "Open failed events": "Fehlgeschlagene Ereignisse öffnen",
    "No failed messages.": "Keine fehlgeschlagenen Nachrichten.",
    "%(count)s event(s) will run again.": "%(count)s Ereignis(se) werden erneut ausgeführt.",
    "The dry run failed: %(error)s": "Der Probelauf ist fehlgeschlagen: %(error)s",
    "broken": "defekt",
    "Set aside at start-up, its events are refused": "Beim Start beiseitegelegt, seine Ereignisse werden abgelehnt",
}
