"""Delivering due messages of one tenant over one reused connection.

A message is claimed atomically (PENDING -> SENDING with a random token and a
lease) before it is handed to the server, and every outcome is committed on
its own right after the server answered, so an error later in the batch can
never turn a sent message back into a pending one (the duplicate-send bugs of
Odoo and django-post_office).
"""
from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field, fields
from datetime import timedelta

from flask import current_app
from sqlalchemy import Connection, bindparam, update

from ..automate.status import hold_reason
from ..crypto import decrypt
from ..extensions import db
from ..models import MailSettings, Message, MessageStatus
from ..models.types import utcnow
from ..notify import audit, notify
from ..plugins import registry
from ..tenancy import get_tenant, tenant_ref
from . import markers, mime
from .transport import (ConfigurationError, DeliveryError, PermanentError, Security, SmtpConfig,
                        SmtpTransport, TemporaryError, UnknownOutcome)

log = logging.getLogger(__name__)

# Delays before the 2nd, 3rd and 4th attempt; after the 4th, FAILED.
# (app.config["RETRY_DELAYS"] overrides it, for tests.)
RETRY_DELAYS = (5, 30, 300)
BATCH_SIZE = 100
# A job stops claiming after this long and wakes a successor, so one tenant
# with a slow server cannot hold a worker for ever.
JOB_BUDGET_SECONDS = 120


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    held: str | None = None   # why nothing was attempted
    more: bool = False        # the time budget ran out with mail still due
    retry_delays: set[int] = field(default_factory=set)


def smtp_config(settings: MailSettings) -> SmtpConfig:
    password = decrypt(settings.password_encrypted) if settings.password_encrypted else ""
    return SmtpConfig(host=settings.host, port=settings.port, security=Security(settings.security),
                      username=settings.username if settings.auth != "none" else "",
                      password=password, timeout=current_app.config["SMTP_TIMEOUT"],
                      trusted_ca_pem=settings.trusted_ca_pem)


def why_held(settings: MailSettings | None) -> str | None:
    """Why a tenant's mail cannot go out now, or None."""
    if settings is None or not settings.host:
        return "no SMTP server is configured"
    if settings.broken_reason:
        return f"sending is stopped until the settings are fixed: {settings.broken_reason}"
    return None


def claim(tenant_id: int, limit: int, conn: Connection | None = None) -> tuple[str, list[int]]:
    """Atomically take up to ``limit`` due messages; two workers never get
    the same one (single UPDATE ... WHERE status='PENDING'; SKIP LOCKED on
    PostgreSQL so concurrent claimers do not queue behind each other)."""
    if conn is None:
        with db.engine.connect() as own:
            return claim(tenant_id, limit, own)
    now = utcnow()
    token = secrets.token_hex(16)
    table = Message.__table__
    due = (db.select(table.c.id)
           .where(table.c.tenant_id == tenant_id, table.c.status == MessageStatus.PENDING,
                  table.c.next_attempt_at <= now)
           .order_by(table.c.next_attempt_at, table.c.id).limit(limit))
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # The job cannot outlive its timeout (RQ stops it), so a lease this long
    # only expires when the worker is gone; the margin covers clocks of
    # different machines disagreeing (the sweeper compares with its own).
    lease = now + timedelta(seconds=current_app.config["DELIVERY_JOB_TIMEOUT"]
                            + current_app.config.get("CLOCK_SKEW_SECONDS", 60))
    ids = conn.execute(
        update(table)
        .where(table.c.id.in_(due.scalar_subquery()), table.c.status == MessageStatus.PENDING)
        .values(status=MessageStatus.SENDING, claim_token=token, lease_until=lease, updated_at=now)
        .returning(table.c.id)
    ).scalars().all()
    conn.commit()
    return token, sorted(ids)


_finish_statements: dict[tuple[str, ...], object] = {}


def _finish(conn: Connection, message_id: int, token: str, **values) -> bool:
    """Write an outcome only if we still hold the claim, and commit it at once.

    A Core connection of its own, not the ORM session: an UPDATE plus COMMIT
    through the session cost four times as much, once per message sent.
    """
    values.setdefault("updated_at", utcnow())
    values.update(claim_token=None, lease_until=None)
    names = tuple(sorted(values))
    statement = _finish_statements.get(names)
    if statement is None:
        # Built once per set of columns: constructing an UPDATE per message
        # cost more than running it.
        table = Message.__table__
        statement = (update(table).where(table.c.id == bindparam("_id"), table.c.claim_token == bindparam("_token"))
                     .values({name: bindparam(name) for name in names}))
        _finish_statements[names] = statement
    done = conn.execute(statement, {"_id": message_id, "_token": token, **values}).rowcount
    conn.commit()
    return bool(done)


@dataclass(frozen=True)
class Outgoing:
    """A claimed message as plain data: commits after each send expire ORM
    objects, and reloading every row would double the queries."""

    id: int
    tenant_id: int
    attempts: int
    message_id: str
    sender: str
    sender_name: str
    reply_to: str
    recipients: list
    subject: str
    body_text: str
    body_html: str

    @classmethod
    def of(cls, row) -> "Outgoing":
        return cls(**row._mapping)


# Plain column rows, not ORM objects: nothing for each commit to expire.
_OUTGOING_COLUMNS = [getattr(Message, f.name) for f in fields(Outgoing)]


def deliver_due(tenant_id: int) -> DeliveryStats:
    # AUTOMATE paused or its mail worker task off: hold before claiming, so
    # the mail stays PENDING and leaves when AUTOMATE wakes delivery again.
    held = hold_reason(tenant_id)
    if held:
        return DeliveryStats(held=held)
    settings = db.session.get(MailSettings, tenant_id)
    held = why_held(settings)
    if held:
        return DeliveryStats(held=held)
    return Delivery(settings).run()


class Delivery:
    """One job's worth of sending for one tenant."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self.tenant_id = settings.tenant_id
        self.tenant = tenant_ref(get_tenant(settings.tenant_id))
        self.encoding = settings.encoding
        self.default_sender = settings.sender_address
        self.transport = SmtpTransport(smtp_config(settings))
        self.stats = DeliveryStats()
        self.conn: Connection | None = None

    def run(self) -> DeliveryStats:
        started = time.monotonic()
        self.conn = db.engine.connect()
        try:
            while True:
                if time.monotonic() - started > min(JOB_BUDGET_SECONDS,
                                                    current_app.config["DELIVERY_JOB_TIMEOUT"] / 2):
                    self.stats.more = True
                    break
                token, ids = claim(self.tenant_id, BATCH_SIZE, self.conn)
                if not ids:
                    break
                batch = [Outgoing.of(row) for row in self.conn.execute(
                    db.select(*_OUTGOING_COLUMNS).where(Message.id.in_(ids)).order_by(Message.id))]
                self.conn.commit()
                if not self._send_batch(batch, token):
                    break
        finally:
            self.transport.close()
            self.conn.close()
        return self.stats

    def _send_batch(self, messages: list[Outgoing], token: str) -> bool:
        """Send claimed messages; returns False when the job should stop."""
        for index, message in enumerate(messages):
            try:
                if not self.transport.is_open:
                    self.transport.open()
            except DeliveryError as exc:
                # Nothing will get through this connection: the same answer for
                # every message still held, instead of N timeouts in a row.
                for rest in messages[index:]:
                    self._record_failure(rest, token, exc)
                return False
            markers.attempting(message.id, token)
            try:
                results = self._send_one(message)
            except DeliveryError as exc:
                self._record_failure(message, token, exc)
                if isinstance(exc, ConfigurationError):
                    for rest in messages[index + 1:]:
                        _finish(self.conn, rest.id, token, status=MessageStatus.PENDING)
                    return False
                continue
            markers.sent(message.id)  # before the database hears of it: see markers.py
            refused = {r: a for r, a in results.items() if not a.startswith("25")}
            note = ("not delivered to " + "; ".join(f"{r} ({a})" for r, a in refused.items())) if refused else None
            if _finish(self.conn, message.id, token, status=MessageStatus.SENT, sent_at=utcnow(),
                       attempts=message.attempts + 1, rcpt_results=results, last_error=note):
                self.stats.sent += 1
                self._outcome(message, MessageStatus.SENT, note or "delivered")
        return True

    def _send_one(self, message: Outgoing) -> dict[str, str]:
        sender = message.sender or self.default_sender
        if not sender:
            raise ConfigurationError("no sender address is configured")
        try:
            payload = mime.build(sender=sender, sender_name=message.sender_name, recipients=message.recipients,
                                 subject=message.subject, body_text=message.body_text,
                                 body_html=message.body_html, message_id=message.message_id,
                                 reply_to=message.reply_to, encoding=self.encoding)
            needs_utf8 = mime.needs_smtputf8(sender, message.recipients, message.reply_to)
        except (mime.HeaderError, ValueError) as exc:
            raise PermanentError(f"the message cannot be built: {exc}") from exc
        return self.transport.send(sender, message.recipients, payload, needs_smtputf8=needs_utf8)

    def _record_failure(self, message: Outgoing, token: str, exc: DeliveryError) -> None:
        now = utcnow()
        stats = self.stats
        if isinstance(exc, ConfigurationError):
            # Hold the mail (nothing is lost) and stop the tenant's sending
            # until an admin fixes the settings, instead of burning retries.
            _finish(self.conn, message.id, token, status=MessageStatus.PENDING, last_error=exc.text)
            mark_broken(self.tenant_id, exc.text)
            stats.held = exc.text
            return
        if isinstance(exc, UnknownOutcome):
            if _finish(self.conn, message.id, token, status=MessageStatus.UNKNOWN, attempts=message.attempts + 1,
                       last_error=exc.text):
                stats.unknown += 1
                notify(message.tenant_id, "warning", f"Message {message.id} to {', '.join(message.recipients)}: "
                       f"{exc.text}. Check with the recipient before resending.", message.id)
                db.session.commit()
                self._outcome(message, MessageStatus.UNKNOWN, exc.text)
            return
        attempts_done = message.attempts + 1
        delays = current_app.config.get("RETRY_DELAYS", RETRY_DELAYS)
        if isinstance(exc, TemporaryError) and attempts_done <= len(delays):
            delay = delays[attempts_done - 1]
            if _finish(self.conn, message.id, token, status=MessageStatus.PENDING, attempts=attempts_done,
                       next_attempt_at=now + timedelta(seconds=delay), last_error=exc.text):
                stats.retried += 1
                stats.retry_delays.add(delay)
            return
        if _finish(self.conn, message.id, token, status=MessageStatus.FAILED, attempts=attempts_done, last_error=exc.text):
            stats.failed += 1
            record_permanent_failure(message, exc.text)
            db.session.commit()
            self._outcome(message, MessageStatus.FAILED, exc.text)

    def _outcome(self, message: Outgoing, status: str, detail: str) -> None:
        try:
            registry().hook("postwerk_delivery_outcome", self.tenant_id)(
                tenant=self.tenant, message_id=message.id, status=status, detail=detail)
        except Exception:  # a plugin's bug must not touch the committed outcome
            log.exception("postwerk_delivery_outcome failed for message %s", message.id)


def mark_broken(tenant_id: int, reason: str) -> None:
    settings = db.session.get(MailSettings, tenant_id)
    if settings is not None and not settings.broken_reason:
        settings.broken_reason = reason
        notify(tenant_id, "error", f"Sending stopped: {reason}")
        audit(tenant_id, "system", "mail.sending_broken", "mail_settings", tenant_id, reason=reason)
    db.session.commit()


def record_permanent_failure(message: Message | Outgoing, reason: str) -> None:
    audit(message.tenant_id, "system", "mail.failed", "message", message.id, reason=reason,
          recipients=message.recipients)
    notify(message.tenant_id, "error", f"Message {message.id} to {', '.join(message.recipients)} failed: {reason}",
           message.id)
