"""Every page module of the mail admin, and registering its blueprint.

Importing a page module attaches its routes to ``core.admin.bp``; this module
imports them all, apart from the package so that the package does not import
the pages that import it.
"""

from __future__ import annotations

from flask import Flask

from . import (
    bp,
    dryrun,
    failed_events,
    failure_notices,
    logs,
    overview,
    queue,
    rules,
    sending,
    settings,
    suppression,
    template_editor,
    trash,
)

# Imported for the routes they attach to ``bp``.
PAGES = (
    dryrun,
    failed_events,
    failure_notices,
    logs,
    overview,
    queue,
    rules,
    sending,
    settings,
    suppression,
    template_editor,
    trash,
)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
