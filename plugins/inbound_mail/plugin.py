"""The inbound mail plugin's hooks: its poller task and its admin pages."""

from __future__ import annotations

from pathlib import Path

from core.api import MailboxLogin, MenuEntry, Plugin, TaskSpec, db, decrypt, hookimpl

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
    # Its own message catalogue (Babel domain "inbound_mail"): labels, task and rule names in German.
    translations = str(Path(__file__).parent / "translations")

    @hookimpl
    def postwerk_tasks(self):
        return [POLL_TASK]

    @hookimpl
    def postwerk_mailbox_credentials(self, tenant):
        """The login of the tenant's first enabled mailbox with a password,
        for "same login as the incoming mailbox" on the sending side, with
        the host it was saved for (the core sends it nowhere else unasked)."""
        from .models import Mailbox

        mailbox = db.session.execute(
            db.select(Mailbox)
            .where(
                Mailbox.tenant_id == tenant.id,
                Mailbox.enabled,
                Mailbox.password_encrypted.is_not(None),
                Mailbox.username != "",
            )
            .order_by(Mailbox.id)
            .limit(1)
        ).scalar_one_or_none()
        if mailbox is None:
            return None
        return MailboxLogin(mailbox.username, decrypt(mailbox.password_encrypted), host=mailbox.host)

    @hookimpl
    def postwerk_blueprints(self):
        from .views import bp

        return [bp]

    @hookimpl
    def postwerk_admin_menu(self):
        return [MenuEntry("Inbound mail", "inbound_mail.index", area="settings")]
