"""German strings of plugin versions and deprecated hooks (issue 11);
de_strings.py merges them into DE."""
DE_PLUGIN_VERSIONS = {
    "Works, but should be updated": "Funktioniert, sollte aber aktualisiert werden",
}
