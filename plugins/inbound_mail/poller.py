"""The poller AUTOMATE runs per tenant: every mailbox due, each on its own.

A mailbox that cannot be reached or refuses the login backs off
(1, 2, 4, ... minutes, at most an hour) without holding up the others.
Nothing is deleted from a server unless the mailbox is set not to leave mail
there, and then only mail whose processing was committed.
"""

from __future__ import annotations

import logging
import poplib
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import NoReturn

from flask import current_app
from imapclient.exceptions import IMAPClientError

from core.api import SecretError, announce_bounces, db, plugin_enabled, utcnow

from . import intake, parsing, trust
from .connections import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, MailboxError, ServerMail, Source, Vanished, open_source
from .intake import DELETABLE, set_aside, take_in
from .models import Mailbox, SeenMail

log = logging.getLogger(__name__)

PLUGIN = "inbound_mail"
BACKOFF_BASE = 60  # seconds
BACKOFF_CAP = 3600
#: A mail whose handling raised this often in a row is kept aside.
MAX_STUCK_ATTEMPTS = 3
#: Mails fetched in one round trip and committed in one transaction (a
#: savepoint each): a commit and a round trip per mail were a fifth of the
#: poll (docs/benchmarks.md). Small enough that the transaction holds
#: SQLite's write lock for a fraction of a second.
BATCH_MAILS = 50
#: ... and at most this many bytes of mail in memory at once (a larger mail alone).
BATCH_BYTES = 8 * 1024 * 1024
_SERVER_ERRORS = (OSError, IMAPClientError, poplib.error_proto)


class HandlerError(RuntimeError):
    """Handling a mail raised; the mail is retried at the next poll."""


def limits() -> parsing.Limits:
    return parsing.Limits(max_bytes=int(current_app.config.get("INBOUND_MAX_BYTES", parsing.Limits.max_bytes)))


def poll_tenant(tenant_id: int) -> str:
    """Poll every enabled mailbox of the tenant that is due (AUTOMATE task)."""
    if not plugin_enabled(tenant_id, PLUGIN):
        return "inbound mail is not enabled for this tenant"
    now = utcnow()
    due = db.session.execute(
        db.select(Mailbox.id, Mailbox.name)
        .where(
            Mailbox.tenant_id == tenant_id,
            Mailbox.enabled,
            db.or_(Mailbox.next_poll_at.is_(None), Mailbox.next_poll_at <= now),
        )
        .order_by(Mailbox.id)
    ).all()
    db.session.rollback()  # end the read; each mailbox runs its own transactions
    results = []
    for mailbox_id, name in due:
        try:
            results.append(f"{name}: {poll_mailbox(mailbox_id)}")
        except Exception as exc:  # one mailbox must never stop the others
            db.session.rollback()
            log.exception("polling mailbox %s failed", mailbox_id)
            results.append(f"{name}: failed: {_failed(mailbox_id, f'internal error: {type(exc).__name__}')}")
    return "; ".join(results) or "no mailbox due"


def poll_mailbox(mailbox_id: int, skip: str | None = None) -> str:
    """Poll one mailbox now (whether due or not) and return a short summary.

    ``skip``: the server key of a mail the admin chose to skip (the one that
    keeps failing): it is kept aside unread instead of handled."""
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return "mailbox gone"
    timeout = float(current_app.config.get("INBOUND_TIMEOUT", DEFAULT_TIMEOUT))
    try:
        source = open_source(mailbox, timeout=timeout, deadline=_deadline())
    except (MailboxError, SecretError) as exc:
        db.session.rollback()
        return "failed: " + _failed(mailbox_id, str(exc))
    counts: Counter[str] = Counter()
    try:
        _poll(mailbox_id, source, counts, skip)
    except (MailboxError, HandlerError) as exc:
        db.session.rollback()
        return "failed: " + _failed(mailbox_id, str(exc), counts)
    except _SERVER_ERRORS as exc:
        db.session.rollback()
        return "failed: " + _failed(mailbox_id, _server_words(exc), counts)
    finally:
        source.close()
    summary = _summary(counts)
    mailbox = db.session.get(Mailbox, mailbox_id)
    mailbox.failures, mailbox.next_poll_at, mailbox.last_error = 0, None, None
    mailbox.stuck_key, mailbox.stuck_attempts = None, 0
    mailbox.last_poll_at, mailbox.last_result = utcnow(), summary
    db.session.commit()
    return summary


def _deadline() -> float:
    """The overall deadline of one step of a mailbox conversation (POSTWERK_NETWORK_DEADLINE)."""
    return float(current_app.config.get("NETWORK_DEADLINE", DEFAULT_DEADLINE))


def check_connection(mailbox: Mailbox) -> str:
    """Log in and count the mails waiting; raises MailboxError with the reason."""
    timeout = float(current_app.config.get("INBOUND_TIMEOUT", DEFAULT_TIMEOUT))
    source = open_source(mailbox, timeout=timeout, deadline=_deadline())
    try:
        waiting = len(source.pending(0))
    except _SERVER_ERRORS as exc:
        raise MailboxError(_server_words(exc)) from None
    finally:
        source.close()
    return f"connected and logged in; {waiting} mail(s) in {'the mailbox' if mailbox.protocol == 'pop3' else mailbox.folder}"


def _poll(mailbox_id: int, source: Source, counts: Counter, skip: str | None = None) -> None:
    caps = limits()
    uidvalidity = source.uidvalidity
    mailbox = db.session.get(Mailbox, mailbox_id)
    delete_mode = not mailbox.leave_on_server
    watermark = 0
    if source.uidvalidity and not delete_mode:
        watermark = (
            db.session.execute(
                db.select(db.func.max(SeenMail.uid)).where(
                    SeenMail.mailbox_id == mailbox_id, SeenMail.uidvalidity == uidvalidity
                )
            ).scalar()
            or 0
        )
    # In delete mode every mail on the server is listed: mail processed
    # before (while mail was left there, or in a poll that failed half-way)
    # is deleted now; the rest of the mailbox is normally small.
    items = source.pending(watermark)
    # Read once per poll, not once per mail (a query each); a change made
    # during a poll applies from the next one.
    policy = trust.policy(mailbox.tenant_id, mailbox)
    known = _known_keys(mailbox_id, uidvalidity, [item.key for item in items])
    db.session.rollback()
    deletable: list[ServerMail] = [item for item in items if known.get(item.key) in DELETABLE]
    try:
        for batch in _batches([item for item in items if item.key not in known], caps):
            _take_batch(mailbox_id, source, batch, uidvalidity, caps, skip, policy, counts, deletable)
    finally:
        # Mail whose processing was committed goes even when a later mail of
        # this poll fails: the next poll would not list it again (watermark).
        if delete_mode and deletable:
            try:
                source.delete(deletable)
                counts["deleted from server"] += len(deletable)
            except _SERVER_ERRORS:
                log.warning(
                    "mailbox %s: deleting processed mail failed; the next poll tries again", mailbox_id, exc_info=True
                )


def _batches(items: list[ServerMail], caps: parsing.Limits) -> Iterator[list[ServerMail]]:
    """The mails in order, in groups of at most BATCH_MAILS and BATCH_BYTES
    (a larger mail alone); a mail over the size cap costs only its header."""
    batch: list[ServerMail] = []
    size = 0
    for item in items:
        cost = item.size if item.size <= caps.max_bytes else 0
        if batch and (len(batch) >= BATCH_MAILS or size + cost > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += cost
    if batch:
        yield batch


def _take_batch(
    mailbox_id: int,
    source: Source,
    batch: list[ServerMail],
    uidvalidity: int,
    caps: parsing.Limits,
    skip: str | None,
    policy: trust.Policy,
    counts: Counter,
    deletable: list[ServerMail],
) -> None:
    """Fetch, read and take in a batch of mails in one transaction (a
    savepoint per mail), and count what was committed. A mail whose handling
    raises ends the poll after the mails before it are committed."""
    mailbox = db.session.get(Mailbox, mailbox_id)
    try:
        raws = source.fetch_many([item for item in batch if item.size <= caps.max_bytes])
        for item in batch:
            if item.size > caps.max_bytes:
                try:
                    # Not downloaded: the header tells the admin which mail it was.
                    raws[item.key] = source.fetch_header(item)
                except Vanished:
                    pass
    except _SERVER_ERRORS as exc:
        raise MailboxError(_server_words(exc)) from None
    entries = []
    for item in batch:
        raw = raws.get(item.key)
        if raw is None:
            counts["vanished before it was read"] += 1
            continue
        complete, rejected = True, None
        if item.size > caps.max_bytes:
            complete = False
            rejected = parsing.Rejected(
                "too_large", f"{item.size} bytes; the limit is {caps.max_bytes} bytes; the mail stays on the server"
            )
        last_resort = None
        if rejected is None and skip is not None and skip == item.key:
            last_resort = parsing.Rejected(
                "skipped", f"skipped by an admin; last error: {mailbox.last_error or 'none'}"
            )
        elif rejected is None and mailbox.stuck_key == item.key and mailbox.stuck_attempts >= MAX_STUCK_ATTEMPTS:
            last_resort = parsing.Rejected(
                "handler_failed",
                f"handling failed {mailbox.stuck_attempts} times: {mailbox.last_error or 'unknown error'}",
            )
        try:
            reading: intake.Reading | Exception = intake.read(
                raw, limits=caps, complete=complete, rejected=rejected or last_resort
            )
        except Exception as exc:  # handled below as this mail's failure
            reading = exc
        entries.append((item, raw, complete, last_resort, reading))
    if not entries:
        return
    done: list[tuple[ServerMail, str]] = []
    failure: tuple[ServerMail, Exception] | None = None
    try:
        context = intake.Batch(mailbox, [e[4] for e in entries if isinstance(e[4], intake.Reading)])
    except Exception as exc:  # the database: the batch's first mail stands for it
        db.session.rollback()
        _fail(mailbox_id, entries[0][0], exc)
    for item, raw, complete, last_resort, reading in entries:
        try:
            if isinstance(reading, Exception):
                raise reading
            outcome = take_in(mailbox, item, uidvalidity, reading, limits=caps, policy=policy, batch=context)
        except Exception as exc:
            if last_resort is None:
                failure = (item, exc)
                break
            # Even the claim of this mail cannot be written (a header the
            # database refuses, ...): keep it aside with nothing read from it,
            # so the mail behind it is not held up for ever.
            log.exception("keeping inbound mail %s of mailbox %s aside failed; storing it bare", item.key, mailbox_id)
            detail = f"{last_resort.detail}; then: {type(exc).__name__}: {exc}"[:2000]
            try:
                outcome = set_aside(
                    mailbox,
                    item,
                    uidvalidity,
                    raw,
                    parsing.Rejected(last_resort.code, detail),
                    limits=caps,
                    complete=complete,
                )
            except Exception as again:
                failure = (item, again)
                break
        done.append((item, outcome.kind))
    if done:
        try:
            intake._commit()
        except Exception as exc:
            db.session.rollback()
            if len(batch) > 1:
                # Claims and work of the whole batch are gone together, and
                # which mail the commit refused is unknown: take the batch in
                # again one mail to a transaction, so the retries (and, after
                # repeated failures, keeping aside) hit the mail at fault, not
                # the batch's first.
                log.warning(
                    "mailbox %s: committing a batch of %s mails failed (%s); taking them in one by one",
                    mailbox_id,
                    len(batch),
                    exc,
                )
                for item in batch:
                    _take_batch(mailbox_id, source, [item], uidvalidity, caps, skip, policy, counts, deletable)
                return
            _fail(mailbox_id, done[0][0], exc)
        announce_bounces()
        for item, kind in done:
            counts[kind] += 1
            if kind in DELETABLE:
                deletable.append(item)
    if failure is not None:
        db.session.rollback()
        _fail(mailbox_id, *failure)


def _fail(mailbox_id: int, item: ServerMail, exc: Exception) -> NoReturn:
    log.error("handling inbound mail %s of mailbox %s failed", item.key, mailbox_id, exc_info=exc)
    _note_stuck(mailbox_id, item.key)
    raise HandlerError(f"handling mail {item.key} failed: {type(exc).__name__}: {exc}"[:500]) from exc


def _known_keys(mailbox_id: int, uidvalidity: int, keys: list[str]) -> dict[str, str]:
    """The keys among ``keys`` this mailbox processed before, with their outcome."""
    known: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        known.update(
            db.session.execute(
                db.select(SeenMail.server_key, SeenMail.outcome).where(
                    SeenMail.mailbox_id == mailbox_id,
                    SeenMail.uidvalidity == uidvalidity,
                    SeenMail.server_key.in_(keys[start : start + 500]),
                )
            ).all()
        )
    return known


def _note_stuck(mailbox_id: int, key: str) -> None:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox.stuck_key == key:
        mailbox.stuck_attempts += 1
    else:
        mailbox.stuck_key, mailbox.stuck_attempts = key, 1
    db.session.commit()


def _failed(mailbox_id: int, reason: str, counts: Counter | None = None) -> str:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return reason
    mailbox.failures = (mailbox.failures or 0) + 1
    delay = min(BACKOFF_BASE * 2 ** (mailbox.failures - 1), BACKOFF_CAP)
    now = utcnow()
    mailbox.next_poll_at = now + timedelta(seconds=delay)
    mailbox.last_error = reason[:2000]
    mailbox.last_poll_at = now
    mailbox.last_result = _summary(counts or Counter()) + f"; failed: {reason}"[:2000]
    db.session.commit()
    log.warning("mailbox %s failed (%s in a row), next try in %s s: %s", mailbox_id, mailbox.failures, delay, reason)
    return f"{reason} (attempt {mailbox.failures}; next try in {delay} s)"


def _summary(counts: Counter) -> str:
    if not counts:
        return "no new mail"
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def _server_words(exc: BaseException) -> str:
    text = exc.args[0] if exc.args else str(exc) or type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"server error: {text}"[:500]
