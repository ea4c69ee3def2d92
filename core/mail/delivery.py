"""Delivering due messages of one tenant over one reused connection.

A message is claimed atomically (PENDING -> SENDING with a random token and a
lease) before it is handed to the server, and every outcome is committed on
its own right after the server answered, so an error later in the batch can
never turn a sent message back into a pending one (the duplicate-send bugs of
Odoo and django-post_office).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import timedelta
from functools import partial

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.worker import Worker
from sqlalchemy import Connection, bindparam, update

from .. import attachments as attachment_store
from .. import bounces, opt_outs
from ..automate.status import hold_reason, why_held
from ..crypto import SecretError, decrypt
from ..extensions import db
from ..models import MailSettings, Message, MessageStatus
from ..models.message import Priority
from ..models.types import utcnow
from ..notify import audit, notify, tell_outcome
from .. import queueing
from ..plugins import HookFailure, registry
from ..specs import MailboxLogin
from ..tenancy import get_tenant, tenant_ref
from ..heartbeat import heartbeat_stale
from . import conditions, inbound_login, markers, mime, oauth, return_path
from ..system_mail import system_sender
from .failure_mail import tell_admins
from .connection_limit import ConnectionLimit
from .dkim import DkimError, DkimKey, signed
from .transport import (
    DEFAULT_PORTS,
    ConfigurationError,
    DeliveryError,
    PermanentError,
    PopLogin,
    Security,
    SmtpConfig,
    SmtpTransport,
    TemporaryError,
    UnknownOutcome,
)

log = logging.getLogger(__name__)

# Delays before the 2nd, 3rd and 4th attempt; after the 4th, FAILED.
# (POSTWERK_RETRY_DELAYS, app.config["RETRY_DELAYS"], overrides it.)
RETRY_DELAYS = (5, 30, 300)
BATCH_SIZE = 100
# Replies of servers that accept only their own account as From:
# Exchange Online (5.7.60 SendAsDenied, 5.2.252), Postfix with
# reject_sender_login_mismatch ("not owned by user").
SENDER_REFUSED = re.compile(r"5\.7\.60|5\.2\.252|SendAsDenied|not owned by user", re.IGNORECASE)
# A job that finds all of its tenant's connection slots taken tries again
# after this many seconds (app.config["CONNECTION_WAIT"] overrides it).
CONNECTION_WAIT = 2
# SENT is written to the database in groups, once the Redis marker of each
# message is stored (a dead worker's messages are then reconciled from the
# markers): at most this many, or after this many seconds.
SENT_GROUP_SIZE = 50
SENT_GROUP_SECONDS = 0.25
# A job stops claiming after this long and wakes a successor, so one tenant
# with a slow server cannot hold a worker for ever.
JOB_BUDGET_SECONDS = 120
# After this long, a job whose worker other jobs are waiting for (another
# tenant's mail, an expansion) hands its tenant's rest to a successor at the
# back of the queue: one tenant's backlog, spread over several lanes, must not
# keep every worker for minutes. (app.config["FAIR_SHARE_SECONDS"] overrides it.)
FAIR_SHARE_SECONDS = 5
# How often (in messages) a job sending other mail looks for a waiting
# system job, to give its worker over (one LLEN per YIELD_EVERY messages).
YIELD_EVERY = 10
# How long a system job waits for a connection slot it called for (the
# holders give one back within YIELD_EVERY messages), and its polling step.
SYSTEM_SLOT_WAIT = 5
SLOT_POLL_SECONDS = 0.01


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    held: str | None = None  # why nothing was attempted
    waited: int = 0  # claimed messages put back: no connection slot free
    more: bool = False  # the time budget ran out with mail still due
    retry_delays: set[int] = field(default_factory=set)


def smtp_config(settings: MailSettings) -> SmtpConfig:
    """The connection settings of a tenant, secrets decrypted, tokens fresh.

    Raises ConfigurationError when the chosen login cannot be assembled.
    """
    cfg = SmtpConfig(
        host=settings.host,
        port=settings.port or DEFAULT_PORTS[Security(settings.security)],
        security=Security(settings.security),
        timeout=current_app.config["SMTP_TIMEOUT"],
        deadline=current_app.config["NETWORK_DEADLINE"],
        trusted_ca_pem=settings.trusted_ca_pem,
    )
    auth = settings.auth or "none"
    if auth == "password":
        cfg.username = settings.username
        cfg.password = decrypt(settings.password_encrypted) if settings.password_encrypted else ""
    elif auth == "inbound":
        login = mailbox_credentials(settings.tenant_id)
        if not login:
            raise ConfigurationError(
                "'same login as the incoming mailbox' is chosen, but no incoming mailbox with a login is configured"
            )
        # The mailbox password goes to the mailbox's own server, or to the
        # one SMTP server the admin confirmed it for: never to a changed host.
        if not inbound_login.may_send(login, cfg.host, cfg.port, settings.inbound_login_confirmed_for):
            raise ConfigurationError(inbound_login.refusal(login, cfg.host, cfg.port))
        cfg.username, cfg.password = login.username, login.password
    elif auth == "pop_before_smtp":
        if not settings.pop3_host or not settings.pop3_username:
            raise ConfigurationError("POP-before-SMTP needs the POP3 server and its login")
        cfg.pop_before_smtp = PopLogin(
            host=settings.pop3_host,
            port=settings.pop3_port,
            username=settings.pop3_username,
            password=decrypt(settings.pop3_password_encrypted) if settings.pop3_password_encrypted else "",
            security=settings.pop3_security,
        )
    elif auth == "oauth2":
        if not settings.username:
            raise ConfigurationError("OAuth2 needs the mailbox address as user name")
        try:
            token = oauth.access_token(settings)
        except oauth.OAuthError as exc:
            raise ConfigurationError(str(exc)) from exc
        cfg.username, cfg.password, cfg.auth_mechanism = settings.username, token, "xoauth2"
    elif auth != "none":
        raise ConfigurationError(f"unknown authentication {auth!r}")
    return cfg


def mailbox_credentials(tenant_id: int) -> MailboxLogin | None:
    """The tenant's incoming-mailbox login, from whichever plugin keeps it.

    A plugin whose hook raises fails alone (DESIGN.md, invariant 7): it is
    named in the notification log and the next plugin is asked; when no
    plugin answered, the ConfigurationError names it, so the settings page's
    check shows it and the send path holds the mail (PENDING) instead of
    failing it."""
    failures: list[HookFailure] = []
    answer = registry().call_first(
        "postwerk_mailbox_credentials", tenant_id, failures=failures, tenant=tenant_ref(get_tenant(tenant_id))
    )
    for failure in failures:
        notify(tenant_id, "error", f"The SMTP login could not be read: {failure}")
    if not answer and failures:
        raise ConfigurationError(f"'same login as the incoming mailbox' is chosen, but {failures[0]}")
    return inbound_login.from_hook(answer)


def dkim_key(settings: MailSettings) -> DkimKey | None:
    if not (settings.dkim_domain and settings.dkim_selector and settings.dkim_private_key_encrypted):
        return None
    return DkimKey(settings.dkim_domain, settings.dkim_selector, decrypt(settings.dkim_private_key_encrypted))


def check_connection(settings: MailSettings) -> str:
    """Connect, log in and quit, for the settings page's "test" button.

    Returns a one-line success text; raises a DeliveryError subclass whose
    ``kind`` and text say what is wrong. Sends nothing.
    """
    try:
        config = smtp_config(settings)
    except SecretError as exc:
        raise ConfigurationError(str(exc)) from exc
    transport = SmtpTransport(config)
    with transport:
        utf8 = "with" if transport.smtputf8 else "without"
        login = f"logged in as {config.username}" if config.username else "no login"
        return f"{config.host}:{config.port} answered ({config.security.value}, {login}, {utf8} SMTPUTF8)"


def claimant() -> tuple[str | None, str | None]:
    """(Redis epoch, RQ worker name or None) for the claims of this job.

    Read before claiming, so every marker of a claim is written under this
    epoch or a later one (a flush meanwhile makes them differ: the sweeper
    then does not trust missing markers; see markers.py). Read once per job:
    an epoch read earlier is only ever older, which errs towards UNKNOWN,
    never towards a second send. The worker is named only while RQ has it
    registered: a worker whose registration a flush took looks dead until
    its next heartbeat, and its claims must not be taken back early
    (sweeper.reclaim)."""
    job = get_current_job()
    worker = job.worker_name if job is not None and job.worker_name else None
    epoch, registered = markers.claim_epoch(Worker.redis_worker_namespace_prefix + worker if worker else None)
    return epoch, worker if registered else None


def claim(
    tenant_id: int,
    limit: int,
    conn: Connection | None = None,
    by: tuple[str | None, str | None] | None = None,
    min_priority: int | None = None,
    returning: list | None = None,
) -> tuple[str, list]:
    """Atomically take up to ``limit`` due messages; two workers never get
    the same one (single UPDATE ... WHERE status='PENDING'; SKIP LOCKED on
    PostgreSQL so concurrent claimers do not queue behind each other).
    ``by``: what :func:`claimant` returned for this job (read now if None).
    ``min_priority``: only mail of at least this priority (system mail
    through the fallback server, or while AUTOMATE holds the rest).
    Returns the claim token and the ids taken, in order; with ``returning``
    (columns of the message table), those columns of the rows taken instead,
    by id: the claim and the read of what to send in one statement."""
    if conn is None:
        with db.engine.connect() as own:
            return claim(tenant_id, limit, own, by, min_priority, returning)
    now = utcnow()
    token = secrets.token_hex(16)
    # The job cannot outlive its timeout (RQ stops it), so a lease this long
    # only expires when the worker is gone; the margin covers clocks of
    # different machines disagreeing (the sweeper compares with its own).
    lease = now + timedelta(
        seconds=current_app.config["DELIVERY_JOB_TIMEOUT"] + current_app.config.get("CLOCK_SKEW_SECONDS", 60)
    )
    epoch, worker = by if by is not None else claimant()
    statement = _claim_statement(
        conn.dialect.name, limit, min_priority is not None, tuple(str(c) for c in returning or ()), returning
    )
    result = conn.execute(
        statement,
        {
            "_tenant": tenant_id,
            "_now": now,
            "_min_priority": min_priority,
            "_token": token,
            "_lease": lease,
            "_epoch": epoch,
            "_worker": worker,
        },
    )
    if returning:
        # In the claim's order, system mail first: a system mail claimed
        # with 99 bulk ones went out last, after them (bench.priority).
        rows = sorted(result.all(), key=lambda row: (-getattr(row, "priority", 0), row.id))
        conn.commit()
        return token, rows
    ids = result.scalars().all()
    conn.commit()
    return token, sorted(ids)


_claim_statements: dict[tuple, object] = {}


def _claim_statement(dialect: str, limit: int, by_priority: bool, names: tuple, returning: list | None):
    """The claim's UPDATE, built once per shape (its values are bound at
    execution): building it per claim cost more CPU than running it, once
    per batch, and under a trickle a batch is a few messages."""
    key = (dialect, limit, by_priority, names)
    statement = _claim_statements.get(key)
    if statement is not None:
        return statement
    table = Message.__table__
    due = (
        db.select(table.c.id)
        .where(
            table.c.tenant_id == bindparam("_tenant"),
            table.c.status == MessageStatus.PENDING,
            table.c.next_attempt_at <= bindparam("_now"),
        )
        # Priority lane: system mail before transactional before bulk, so
        # a sign-in code never waits behind a tenant's bulk backlog.
        .order_by(table.c.priority.desc(), table.c.next_attempt_at, table.c.id)
        .limit(limit)
    )
    if by_priority:
        due = due.where(table.c.priority >= bindparam("_min_priority"))
    if dialect == "postgresql":
        # In a CTE, which runs once: as "WHERE id IN (subquery)" PostgreSQL
        # may run the locking subquery again for every row, each run skipping
        # the rows this UPDATE already changed, and took all due mail at once.
        due = due.with_for_update(skip_locked=True).cte("due")
        taken = table.c.id == due.c.id
    else:
        taken = table.c.id.in_(due.scalar_subquery())
    statement = (
        update(table)
        .where(taken, table.c.status == MessageStatus.PENDING)
        .values(
            status=MessageStatus.SENDING,
            claim_token=bindparam("_token"),
            lease_until=bindparam("_lease"),
            updated_at=bindparam("_now"),
            claim_epoch=bindparam("_epoch"),
            claimed_by=bindparam("_worker"),
        )
        .returning(*(returning or [table.c.id]))
    )
    _claim_statements[key] = statement
    return statement


_finish_statements: dict[tuple[str, ...], object] = {}


def _finish(conn: Connection, message_id: int, token: str, **values) -> bool:
    """Write an outcome only if we still hold the claim, and commit it at once.

    A Core connection of its own, not the ORM session: an UPDATE plus COMMIT
    through the session cost four times as much, once per message sent.
    """
    values.setdefault("updated_at", utcnow())
    values.update(claim_token=None, lease_until=None, claim_epoch=None, claimed_by=None)
    done = conn.execute(
        _finish_statement(tuple(sorted(values))), {"_id": message_id, "_token": token, **values}
    ).rowcount
    conn.commit()
    return bool(done)


def _finish_statement(names: tuple[str, ...]):
    """UPDATE of these columns for one claimed message, built once per set of
    columns: constructing an UPDATE per message cost more than running it."""
    statement = _finish_statements.get(names)
    if statement is None:
        table = Message.__table__
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"), table.c.claim_token == bindparam("_token"))
            .values({name: bindparam(name) for name in names})
        )
        _finish_statements[names] = statement
    return statement


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
    event_id: int | None
    event_key: str | None
    priority: int
    send_condition: str | None
    attachments: int

    @classmethod
    def of(cls, row) -> "Outgoing":
        return cls(**row._mapping)


# Plain column rows, not ORM objects: nothing for each commit to expire.
_OUTGOING_COLUMNS = [getattr(Message, f.name) for f in fields(Outgoing)]


def deliver_due(
    tenant_id: int,
    *,
    lane: int = 0,
    call_helper: Callable[[], object] | None = None,
    linger: Callable[[int], bool] | None = None,
    min_priority: int | None = None,
) -> DeliveryStats:
    """Send what is due for one tenant (``min_priority``: only mail of at
    least this priority, for a job of the system queue). ``call_helper`` wakes a job in the
    next lane; it is called once, when a full batch shows a backlog and the
    tenant may use another lane. ``linger(progress)``, called when nothing
    is due, may wait a moment and return True to look again on the open
    connection (see ``core.mail.jobs.Linger``)."""
    # AUTOMATE paused or its mail worker task off: hold before claiming, so
    # the mail stays PENDING and leaves when AUTOMATE wakes delivery again.
    # System mail (sign-in codes, password resets) is never held: a paused
    # AUTOMATE or a broken server must not lock the admins out of the admin
    # that would fix them. It goes alone then, and through the installation's
    # fallback server (POSTWERK_SYSTEM_SMTP_URL) when the tenant's own is
    # missing or broken.
    paused = hold_reason(tenant_id)
    settings = db.session.get(MailSettings, tenant_id)
    broken = why_held(settings)
    if broken:
        fallback = fallback_settings(tenant_id, settings)
        if fallback is None:
            return DeliveryStats(held=paused or broken)
        stats = Delivery(fallback[0], config=fallback[1], min_priority=Priority.SYSTEM).run()
        stats.held = paused or broken
        return stats
    if paused:
        stats = Delivery(settings, min_priority=Priority.SYSTEM).run()
        stats.held = paused
        return stats
    return Delivery(settings, lane=lane, call_helper=call_helper, linger=linger, min_priority=min_priority).run()


def fallback_settings(tenant_id: int, own: MailSettings | None) -> tuple[MailSettings, SmtpConfig] | None:
    """The installation's fallback server for system mail, as settings of
    this tenant (its sender and DKIM key kept) plus the connection; None
    when POSTWERK_SYSTEM_SMTP_URL is unset. The settings object is never
    added to the session: nothing of it is stored."""
    url = current_app.config.get("SYSTEM_SMTP")
    if not url:
        return None
    address, name = system_sender(get_tenant(tenant_id))
    settings = MailSettings(
        tenant_id=tenant_id,
        host=url["host"],
        port=url["port"],
        security=url["security"],
        auth="password" if url["username"] else "none",
        username=url["username"],
        sender_address=address,
        sender_name=name,
        reply_to="",
        sender_mode="system",
        encoding=(own.encoding if own else "") or "utf-8",
        max_connections=(own.max_connections if own else 0) or 1,
        system_sender_only=True,
        dkim_domain=own.dkim_domain if own else "",
        dkim_selector=own.dkim_selector if own else "",
        dkim_private_key_encrypted=own.dkim_private_key_encrypted if own else None,
    )
    config = SmtpConfig(
        host=url["host"],
        port=url["port"],
        security=Security(url["security"]),
        timeout=current_app.config["SMTP_TIMEOUT"],
        deadline=current_app.config["NETWORK_DEADLINE"],
        username=url["username"],
        password=url["password"],
    )
    return settings, config


class Delivery:
    """One job's worth of sending for one tenant."""

    def __init__(
        self,
        settings: MailSettings,
        *,
        lane: int = 0,
        call_helper: Callable[[], object] | None = None,
        linger: Callable[[int], bool] | None = None,
        config: SmtpConfig | None = None,
        min_priority: int | None = None,
    ):
        self.settings = settings
        # A given connection (the fallback server) instead of the tenant's own.
        self._config = config
        self.min_priority = min_priority
        self._linger = linger
        # One lane per connection: a tenant's backlog is sent over up to
        # this many connections at once, one job each.
        self.lanes = max(1, min(settings.max_connections or 1, current_app.config.get("DELIVERY_LANES", 1)))
        self._call_helper = call_helper if lane + 1 < self.lanes else None
        self.tenant_id = settings.tenant_id
        self.tenant = tenant_ref(get_tenant(settings.tenant_id))
        self.encoding = settings.encoding
        self.default_sender = settings.sender_address
        self.bounce_address = settings.bounce_address or ""
        self.system_sender_only = settings.system_sender_only
        self.transport: SmtpTransport | None = None
        self.slots = ConnectionLimit.for_tenant(self.tenant_id, settings.max_connections)
        self.stats = DeliveryStats()
        self.dkim: DkimKey | None = None
        self._dkim_error: str | None = None
        try:
            self.dkim = dkim_key(settings)
        except Exception as exc:  # noqa: BLE001 - a bad stored key is the admin's to fix
            self._dkim_error = f"the DKIM key cannot be used: {exc}"
        # Half the job timeout at most: the rest is the margin for the
        # message in flight when the budget runs out.
        self.budget = min(JOB_BUDGET_SECONDS, current_app.config["DELIVERY_JOB_TIMEOUT"] / 2)
        self.conn: Connection | None = None
        # A job from the other queues hands its worker over to a waiting
        # system job within YIELD_EVERY messages instead of after its fair
        # share: with every worker busy on a bulk backlog, a sign-in code
        # would otherwise wait seconds for a worker (bench.priority).
        job = get_current_job()
        system_queue = queueing.queue_name(queueing.PRIORITY_KINDS[Priority.SYSTEM])
        self._yields = job is not None and job.origin != system_queue
        # A job of the system queue sending only system mail: when every
        # connection slot of the tenant is taken (by jobs sending its bulk
        # backlog), it calls for one and waits for it (SYSTEM_SLOT_WAIT)
        # instead of trying again after CONNECTION_WAIT seconds.
        self._calls_for_slot = job is not None and job.origin == system_queue and min_priority == Priority.SYSTEM
        self.markers = markers.Writer()
        self._claimant: tuple[str | None, str | None] | None = None  # read at the first claim
        # (message, token, values) of sent messages not yet written as SENT.
        self._sent: list[tuple[Outgoing, str, dict]] = []
        self._sent_since = 0.0

    def run(self) -> DeliveryStats:
        self.started = time.monotonic()
        self.conn = db.engine.connect()
        try:
            while True:
                if self._out_of_time():
                    self.stats.more = True
                    break
                if self._claimant is None:
                    self._claimant = claimant()
                # The claim returns the claimed rows themselves: a second
                # SELECT (and its commit) per batch cost as much as the claim.
                token, rows = claim(
                    self.tenant_id,
                    BATCH_SIZE,
                    self.conn,
                    self._claimant,
                    self.min_priority,
                    returning=_OUTGOING_COLUMNS,
                )
                if not rows:
                    # Under a trickle, wait a moment with the connection
                    # open instead of ending (the next job would open anew).
                    self._write_sent()
                    done = self.stats.sent + self.stats.failed + self.stats.retried + self.stats.unknown
                    if self._linger is not None and self._linger(done):
                        continue
                    break
                if len(rows) == BATCH_SIZE and self._call_helper is not None:
                    # A full batch: more is waiting than this connection
                    # sends soon. The helper finds nothing and ends at once
                    # if this job drains the backlog first.
                    self._call_helper()
                    self._call_helper = None
                batch = [Outgoing.of(row) for row in rows]
                if not self._send_batch(batch, token):
                    break
                self._write_sent()
                if self._others_waiting():
                    self.stats.more = True
                    break
        finally:
            try:
                self._write_sent()
            finally:
                self._close()
        return self.stats

    def _out_of_time(self) -> bool:
        return time.monotonic() - self.started > self.budget

    def _others_waiting(self) -> bool:
        """Whether this job has had its fair share while other jobs wait (at
        once when a system job waits)."""
        if self._system_job_waits():
            return True
        share = current_app.config.get("FAIR_SHARE_SECONDS", FAIR_SHARE_SECONDS)
        if time.monotonic() - self.started < share:
            return False
        try:
            return queueing.waiting() > 0
        except RedisError:  # nobody can be woken either; keep sending
            return False

    def _system_job_waits(self) -> bool:
        if not self._yields:
            return False
        try:
            return queueing.system_waiting(self.tenant_id)
        except RedisError:
            return False

    def _acquire_slot(self) -> bool:
        if self.slots.acquire():
            return True
        if not self._calls_for_slot:
            return False
        # The holders look for the call every YIELD_EVERY messages and close
        # their connections; the first slot freed is taken here.
        try:
            called = 0.0
            until = time.monotonic() + current_app.config.get("SYSTEM_SLOT_WAIT", SYSTEM_SLOT_WAIT)
            while time.monotonic() < until:
                if time.monotonic() - called >= 1:
                    queueing.want_slot(self.tenant_id)  # again: the call expires by itself
                    called = time.monotonic()
                time.sleep(SLOT_POLL_SECONDS)
                if self.slots.acquire():
                    return True
            return False
        finally:
            queueing.want_slot(self.tenant_id, False)

    def _close(self) -> None:
        try:
            if self.transport is not None:
                self.transport.close()
        finally:
            self.slots.release()
            self.markers.close()
            self.conn.close()

    def _open(self) -> None:
        """Open the connection inside a connection slot of the tenant."""
        if self._dkim_error:
            raise ConfigurationError(self._dkim_error)
        if self.transport is None:
            # Built here, not in __init__: an OAuth token is refreshed only
            # when a connection is really needed.
            try:
                self.transport = SmtpTransport(self._config or smtp_config(self.settings))
            except SecretError as exc:
                raise ConfigurationError(str(exc)) from exc
        self.transport.open()

    def _send_batch(self, messages: list[Outgoing], token: str) -> bool:
        """Send claimed messages; returns False when the job should stop."""
        for index, message in enumerate(messages):
            if message.send_condition and not self._condition_holds(message, token):
                continue
            if (
                self._out_of_time()
                or heartbeat_stale()
                or (index and index % YIELD_EVERY == 0 and self._system_job_waits())
            ):
                # A server that stalls on every message must not keep this job
                # past its timeout: hand the rest to a successor job. Nor may
                # a worker whose RQ heartbeat is overdue go on: the sweeper may
                # take its claim back any moment (sweeper.reclaim).
                for rest in messages[index:]:
                    _finish(self.conn, rest.id, token, status=MessageStatus.PENDING)
                self.stats.more = True
                return False
            if self.transport is not None and self.transport.is_open and not self.slots.renew():
                # The lease ran out (a long stall): the slot may be another
                # worker's by now, so this connection must go.
                self.transport.close()
            if self.transport is None or not self.transport.is_open:
                if not self._acquire_slot():
                    # All slots busy elsewhere: put the mail back untouched and
                    # come back shortly; the holders are sending meanwhile.
                    for rest in messages[index:]:
                        _finish(self.conn, rest.id, token, status=MessageStatus.PENDING)
                    self.stats.waited += len(messages) - index
                    self.stats.retry_delays.add(current_app.config.get("CONNECTION_WAIT", CONNECTION_WAIT))
                    return False
                try:
                    self._open()
                except DeliveryError as exc:
                    self.slots.release()
                    # Nothing will get through this connection: the same answer
                    # for every message still held, instead of N timeouts in a row.
                    for rest in messages[index:]:
                        self._record_failure(rest, token, exc)
                    return False
            try:
                # The attempt marker goes out after the server's 354, right
                # before the final dot: UNKNOWN then means "may have been sent".
                results = self._send_one(message, partial(self.markers.attempting, message.id, token))
            except DeliveryError as exc:
                self._record_failure(message, token, exc)
                if not self.transport.is_open:
                    self.slots.release()
                if isinstance(exc, ConfigurationError):
                    for rest in messages[index + 1 :]:
                        _finish(self.conn, rest.id, token, status=MessageStatus.PENDING)
                    return False
                continue
            # Before the database hears of it: see markers.py.
            marked = self.markers.sent(message.id)
            refused = _refused(results)
            note = ("not delivered to " + "; ".join(f"{r} ({a})" for r, a in refused.items())) if refused else None
            self._sent.append(
                (
                    message,
                    token,
                    dict(
                        status=MessageStatus.SENT,
                        sent_at=utcnow(),
                        attempts=message.attempts + 1,
                        rcpt_results=results,
                        last_error=note,
                    ),
                )
            )
            if not self._sent_since:
                self._sent_since = time.monotonic()
            # Without its marker a sent message must reach the database now:
            # nothing else would remember it if this worker died.
            if (
                not marked
                or len(self._sent) >= SENT_GROUP_SIZE
                or time.monotonic() - self._sent_since > SENT_GROUP_SECONDS
            ):
                self._write_sent()
        return True

    def _condition_holds(self, message: Outgoing, token: str) -> bool:
        """Ask the rule's send-time condition; a message it stops is finished
        here (CANCELLED with the reason, or a retry/FAILED when no plugin
        could answer) before any connection is opened for it."""
        verdict = conditions.check(self.tenant, message.event_id, message.event_key, message.send_condition)
        if verdict.send:
            return True
        if verdict.send is False:
            if _finish(self.conn, message.id, token, status=MessageStatus.CANCELLED, last_error=verdict.reason):
                audit(
                    message.tenant_id,
                    "system",
                    "mail.condition_cancelled",
                    "message",
                    message.id,
                    reason=verdict.reason,
                    condition=message.send_condition,
                )
                db.session.commit()
            return False
        error = TemporaryError(verdict.reason) if verdict.temporary else PermanentError(verdict.reason)
        self._record_failure(message, token, error)
        return False

    def _write_sent(self) -> None:
        """One short transaction for the group: the write lock is held for
        microseconds, never across an SMTP exchange, and a busy SQLite is
        asked once per group instead of once per message."""
        group, self._sent, self._sent_since = self._sent, [], 0.0
        if not group:
            return
        values = group[0][2]
        statement = _finish_statement(
            tuple(sorted({*values, "updated_at", "claim_token", "lease_until", "claim_epoch", "claimed_by"}))
        )
        now = utcnow()
        params = []
        for message, token, row in group:
            row.update(updated_at=now, claim_token=None, lease_until=None, claim_epoch=None, claimed_by=None)
            params.append({"_id": message.id, "_token": token, **row})
        # One executemany for the group. Should a claim have been taken back
        # meanwhile (the count falls short), undo it and go row by row to
        # learn which one.
        if self.conn.execute(statement, params).rowcount == len(group):
            self.stats.sent += len(group)
        else:
            self.conn.rollback()
            for (message, _, _), one in zip(group, params):
                if self.conn.execute(statement, one).rowcount:
                    self.stats.sent += 1
                else:
                    log.warning(
                        "message %s was sent, but its claim had been taken back; the sweeper decides from its marker",
                        message.id,
                    )
        self.conn.commit()
        for message, _, row in group:
            refused = _refused(row["rcpt_results"])
            if refused:
                record_refused_recipients(message, refused)
                db.session.commit()
            self._outcome(message, MessageStatus.SENT, row["last_error"] or "delivered")

    def _send_one(self, message: Outgoing, before_dot: Callable[[], object]) -> dict[str, str]:
        system = self.default_sender
        # The header sender: the user's address only where the tenant wants it
        # and the server allows it; the envelope sender stays the system one,
        # so bounces reach the tenant's own mailbox.
        sender = message.sender if (message.sender and not self.system_sender_only) else system
        try:
            return self._send_as(message, sender, before_dot)
        except PermanentError as exc:
            if not (system and sender != system and SENDER_REFUSED.search(exc.text)):
                raise
            # The server demands its own account as sender (Exchange's
            # SendAsDenied): from now on this tenant sends as the system
            # address, and this message goes out that way right now (a 5xx
            # means the server did not take it).
            self.force_system_sender(exc.text)
            return self._send_as(message, system, before_dot)

    def force_system_sender(self, reason: str) -> None:
        self.system_sender_only = True
        settings = db.session.get(MailSettings, self.tenant_id)
        settings.system_sender_only = True
        notify(
            self.tenant_id,
            "warning",
            f"The server refused user addresses as sender ({reason}); mail is now sent from the system address.",
        )
        audit(self.tenant_id, "system", "mail.system_sender_forced", "mail_settings", self.tenant_id, reason=reason)
        db.session.commit()

    def _send_as(self, message: Outgoing, sender: str, before_dot: Callable[[], object]) -> dict[str, str]:
        system = self.default_sender
        envelope_from = system or sender
        if self.bounce_address:
            # VERP: the bounce names this message (return_path says why it is signed).
            envelope_from = return_path.for_message(self.bounce_address, self.tenant_id, message.id)
        if not sender:
            raise ConfigurationError("no sender address is configured")
        try:
            recipients = [mime.transport_address(r) for r in message.recipients]
            envelope = [mime.transport_address(envelope_from)] + recipients
            needs_utf8 = any(flag for _, flag in envelope) or mime.needs_smtputf8(
                sender, message.recipients, message.reply_to
            )
            payload = mime.build(
                sender=sender,
                sender_name=message.sender_name,
                recipients=message.recipients,
                subject=message.subject,
                body_text=message.body_text,
                body_html=message.body_html,
                message_id=message.message_id,
                reply_to=message.reply_to,
                encoding=self.encoding,
                extra_headers=self._list_headers(message),
                attachments=attachment_store.files_of(message.id, self.conn) if message.attachments else None,
            )
        except (mime.HeaderError, ValueError, opt_outs.PublicUrlMissing) as exc:
            raise PermanentError(f"the message cannot be built: {exc}") from exc
        try:
            payload = signed(payload, self.dkim, sender)
        except DkimError as exc:
            raise ConfigurationError(str(exc)) from exc
        return self.transport.send(
            envelope[0][0], [a for a, _ in recipients], payload, needs_smtputf8=needs_utf8, before_dot=before_dot
        )

    def _list_headers(self, message: Outgoing) -> dict[str, str] | None:
        """RFC 8058 one-click unsubscribe for bulk mail only; transactional and
        system mail never carry it. Signed for the first recipient: the
        expander makes one message per recipient."""
        if message.priority != Priority.BULK or not message.recipients:
            return None
        return opt_outs.headers(self.tenant_id, message.recipients[0], message.id)

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
            if _finish(
                self.conn,
                message.id,
                token,
                status=MessageStatus.UNKNOWN,
                attempts=message.attempts + 1,
                last_error=exc.text,
            ):
                stats.unknown += 1
                notify(
                    message.tenant_id,
                    "warning",
                    f"Message {message.id} to {', '.join(message.recipients)}: "
                    f"{exc.text}. Check with the recipient before resending.",
                    message.id,
                )
                audit(
                    message.tenant_id,
                    "system",
                    "mail.unknown",
                    "message",
                    message.id,
                    reason=exc.text,
                    attempt=message.attempts + 1,
                )
                db.session.commit()
                self._outcome(message, MessageStatus.UNKNOWN, exc.text)
            return
        attempts_done = message.attempts + 1
        delays = current_app.config.get("RETRY_DELAYS", RETRY_DELAYS)
        if isinstance(exc, TemporaryError) and attempts_done <= len(delays):
            delay = delays[attempts_done - 1]
            if _finish(
                self.conn,
                message.id,
                token,
                status=MessageStatus.PENDING,
                attempts=attempts_done,
                next_attempt_at=now + timedelta(seconds=delay),
                last_error=exc.text,
            ):
                stats.retried += 1
                # The message's history keeps this error: a later SENT clears last_error.
                audit(
                    message.tenant_id,
                    "system",
                    "mail.retry",
                    "message",
                    message.id,
                    reason=exc.text,
                    attempt=attempts_done,
                    retry_in_seconds=delay,
                )
                db.session.commit()
                # Wake a second later than due: a job woken exactly on time
                # can run a few milliseconds early, find nothing due and end.
                stats.retry_delays.add(delay + 1)
            return
        if _finish(
            self.conn, message.id, token, status=MessageStatus.FAILED, attempts=attempts_done, last_error=exc.text
        ):
            stats.failed += 1
            record_permanent_failure(message, exc.text)
            db.session.commit()
            self._outcome(message, MessageStatus.FAILED, exc.text)

    def _outcome(self, message: Outgoing, status: str, detail: str) -> None:
        tell_admins(self.tenant_id, message.id, status, detail)
        try:
            tell_outcome(self.tenant_id, self.tenant, message.id, status, detail)
        except Exception:  # recording the failure failed: the committed outcome stays
            log.exception("postwerk_delivery_outcome failed for message %s", message.id)


def _refused(results: dict[str, str]) -> dict[str, str]:
    """The recipients whose RCPT answer was not a 25x."""
    return {rcpt: answer for rcpt, answer in results.items() if not answer.startswith("25")}


def mark_broken(tenant_id: int, reason: str) -> None:
    settings = db.session.get(MailSettings, tenant_id)
    if settings is not None and not settings.broken_reason:
        settings.broken_reason = reason
        notify(tenant_id, "error", f"Sending stopped: {reason}")
        audit(tenant_id, "system", "mail.sending_broken", "mail_settings", tenant_id, reason=reason)
    db.session.commit()


def record_refused_recipients(message: Outgoing, refused: dict[str, str]) -> None:
    """Some recipients refused for good while others got the message."""
    reason = "; ".join(f"{r}: {a}" for r, a in refused.items())
    audit(
        message.tenant_id,
        "system",
        "mail.recipients_refused",
        "message",
        message.id,
        reason=reason,
        recipients=list(refused),
    )
    notify(message.tenant_id, "warning", f"Message {message.id} was delivered, but not to {reason}", message.id)
    bounces.note_refused_at_rcpt(message.tenant_id, message.id, refused)


def record_permanent_failure(message: Message | Outgoing, reason: str) -> None:
    audit(
        message.tenant_id, "system", "mail.failed", "message", message.id, reason=reason, recipients=message.recipients
    )
    if "all recipients refused" in reason:
        # The transport lists "rcpt: answer; rcpt: answer": each address by its own answer.
        answers = {r: next((part for part in reason.split("; ") if r in part), "") for r in message.recipients}
        bounces.note_refused_at_rcpt(message.tenant_id, message.id, answers)
    notify(
        message.tenant_id,
        "error",
        f"Message {message.id} to {', '.join(message.recipients)} failed: {reason}",
        message.id,
    )
