"""The inbound mail plugin's hooks: its poller task and its admin pages."""
from __future__ import annotations

from pathlib import Path

from core.api import MenuEntry, Plugin, TaskSpec, hookimpl

from . import models  # noqa: F401  (tables known before migrations run)

POLL_TASK = TaskSpec(
    key="inbound_mail.poll",
    label="Inbound mail poller",
    function="plugins.inbound_mail.poller.poll_tenant",
    interval=60,
    description="Reads the tenant's mailboxes and turns new mail into tickets and comments.",
)


class InboundMailPlugin(Plugin):
    """Polls POP3, IMAP and Exchange mailboxes; mail becomes tickets and comments."""

    migrations = str(Path(__file__).parent / "migrations")

    @hookimpl
    def postwerk_tasks(self):
        return [POLL_TASK]

    @hookimpl
    def postwerk_blueprints(self):
        from .views import bp

        return [bp]

    @hookimpl
    def postwerk_admin_menu(self):
        return [MenuEntry("Inbound mail", "inbound_mail.index")]
