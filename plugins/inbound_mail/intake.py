"""Taking in a mail: claim it, sort it, hand it over, record it -- once.

The poller takes mails in batches, one transaction per batch and one
savepoint per mail in it. The claim (a SeenMail row with a unique key) is the
first row a mail writes in its savepoint, and it is committed together with
the handling plugin's work and the rest of the batch. A second poller fails
on the unique key before it calls the hook (its savepoint rolls back: the
mail was "taken"); a crash before the commit rolls back the batch's claims
and work together, and the next poll takes those mails again. A mail whose
handling raises is rolled back to its savepoint alone; the mails before it
in the batch are committed.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from flask import current_app
from sqlalchemy.exc import IntegrityError

from core.api import call_inbound, db, is_known_sender, record_bounce, utcnow, verp_message

from . import automatic, authentication, bounces, parsing, senders, trust
from .connections import ServerMail
from .models import Mailbox, QuarantinedMail, SeenMail

log = logging.getLogger(__name__)

#: More mails than this from one address within LOOP_WINDOW are kept aside:
#: the last line against a system that answers everything without saying so.
LOOP_LIMIT = 20
LOOP_WINDOW = timedelta(hours=1)

#: Outcomes after which the mail may be deleted from the server (when the
#: mailbox does not leave mail there); kept-aside mail always stays.
DELETABLE = ("handled", "automatic", "duplicate", "bounce")


@dataclass(frozen=True)
class Outcome:
    kind: str  # handled | automatic | bounce | duplicate | quarantined | taken
    detail: str = ""


def _commit() -> None:
    # One name for the commit that makes mails "processed" (tests put a crash here).
    db.session.commit()


@dataclass(frozen=True)
class Reading:
    """What is read from a mail before it is claimed, once per mail."""

    raw: bytes
    #: False: ``raw`` is only the header of a mail too large to fetch.
    complete: bool
    #: The parsed mail; None when it was not parsed (``rejected``).
    msg: EmailMessage | None
    #: The mail or, when it was not parsed, its header alone (names for the list).
    header_msg: EmailMessage | None
    rejected: parsing.Rejected | None
    message_id: str
    from_address: str
    fingerprint: str
    subject: str


def read(
    raw: bytes, *, limits: parsing.Limits, complete: bool = True, rejected: parsing.Rejected | None = None
) -> Reading:
    """Parse a mail within the caps (``rejected``: it is kept aside unparsed)."""
    msg = None
    if rejected is None:
        try:
            msg = parsing.parse(raw, limits)
        except parsing.Rejected as exc:
            rejected = exc
    header_msg = msg if msg is not None else _header_only(raw, limits)
    msg_id = parsing.message_id(header_msg) if header_msg is not None else ""
    from_address = parsing.sender(header_msg)[0] if header_msg is not None else ""
    return Reading(
        raw=raw,
        complete=complete,
        msg=msg,
        header_msg=header_msg,
        rejected=rejected,
        message_id=msg_id,
        from_address=from_address,
        fingerprint=parsing.fingerprint(msg_id, from_address, raw if complete else parsing.header_block(raw)),
        subject=_subject(header_msg),
    )


class Batch:
    """What the mails of one batch need to know of the mail before them,
    read with one query each instead of one per mail: the fingerprints
    processed before (duplicates) and each sender's mails within
    LOOP_WINDOW (loops). Kept current as the batch's mails are taken."""

    def __init__(self, mailbox: Mailbox, readings: list[Reading]) -> None:
        # A value the database cannot hold (undecodable bytes) cannot be in it.
        fingerprints = sorted({r.fingerprint for r in readings if _storable(r.fingerprint)})
        addresses = sorted({r.from_address for r in readings if _storable(r.from_address)})
        self.earlier: dict[str, int] = {}
        if fingerprints:
            self.earlier = dict(
                db.session.execute(
                    db.select(SeenMail.fingerprint, db.func.min(SeenMail.id))
                    .where(
                        SeenMail.tenant_id == mailbox.tenant_id,
                        SeenMail.fingerprint.in_(fingerprints),
                        SeenMail.outcome != "pending",
                    )
                    .group_by(SeenMail.fingerprint)
                ).all()
            )
        self.recent: Counter[str] = Counter()
        if addresses:
            self.recent.update(
                dict(
                    db.session.execute(
                        db.select(SeenMail.from_address, db.func.count())
                        .where(
                            SeenMail.mailbox_id == mailbox.id,
                            SeenMail.from_address.in_(addresses),
                            SeenMail.processed_at >= utcnow() - LOOP_WINDOW,
                        )
                        .group_by(SeenMail.from_address)
                    ).all()
                )
            )

    def taken(self, claim: SeenMail) -> None:
        """A mail of the batch was recorded (its savepoint released)."""
        self.recent[claim.from_address] += 1
        if claim.outcome != "pending":
            self.earlier.setdefault(claim.fingerprint, claim.id)


def _storable(value: str) -> bool:
    if not value or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def take_in(
    mailbox: Mailbox,
    item: ServerMail,
    uidvalidity: int,
    reading: Reading,
    *,
    limits: parsing.Limits,
    policy: trust.Policy | None = None,
    batch: Batch | None = None,
) -> Outcome:
    """Process one mail in a savepoint of the caller's transaction; the
    caller commits (``_commit``) and then calls ``core.api.announce_bounces``.
    When handling raises, the mail's savepoint is rolled back and the error
    goes to the caller; the transaction stays usable for the other mails.
    ``policy``: the tenant's trust policy, read once by the poller (None:
    read here); ``batch``: what the poller read for the whole batch (None:
    read for this mail)."""
    if batch is None:
        batch = Batch(mailbox, [reading])
    savepoint = db.session.begin_nested()
    claim = SeenMail(
        tenant_id=mailbox.tenant_id,
        mailbox_id=mailbox.id,
        uidvalidity=uidvalidity,
        server_key=item.key,
        uid=item.uid,
        message_id=reading.message_id,
        from_address=reading.from_address,
        fingerprint=reading.fingerprint,
        subject=reading.subject,
        outcome="pending",
    )
    db.session.add(claim)
    try:
        db.session.flush()
    except IntegrityError:
        savepoint.rollback()
        return Outcome("taken", "another poller took this mail")
    except BaseException:
        savepoint.rollback()
        raise
    try:
        outcome = _sort(mailbox, item, claim, reading, limits, policy, batch)
        # The rows of this mail are written here, so that an error in them
        # is this mail's, not the next one's.
        savepoint.commit()
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    batch.taken(claim)
    return outcome


def _sort(
    mailbox: Mailbox,
    item: ServerMail,
    claim: SeenMail,
    reading: Reading,
    limits: parsing.Limits,
    policy: trust.Policy | None,
    batch: Batch,
) -> Outcome:
    msg, raw, complete = reading.msg, reading.raw, reading.complete
    from_address = reading.from_address
    # The same mail under another key: a new UIDVALIDITY, a second mailbox.
    earlier = batch.earlier.get(claim.fingerprint)
    if earlier is not None:
        claim.duplicate_of = earlier
        return _record(claim, "duplicate", f"already processed as seen mail {earlier}")
    if reading.rejected is not None:
        return _quarantine(mailbox, claim, reading.header_msg, raw, item, reading.rejected, limits, complete)
    assert msg is not None
    reason = automatic.automatic_reason(msg)
    try:
        bounce = bounces.read(msg, reason)
    except Exception:  # an odd bounce is still automatic mail: never a ticket
        log.exception("reading a bounce failed (mailbox %s, key %s)", mailbox.id, item.key)
        bounce = None
    if bounce is not None:
        # core.api.announce_bounces, after the commit: postwerk_delivery_outcome(BOUNCED)
        return _record(claim, "bounce", _close_loop(mailbox.tenant_id, bounce))
    if reason:
        return _record(claim, "automatic", reason)
    if not from_address:
        # Nobody to answer or attribute it to; a person can look at it.
        return _quarantine(
            mailbox,
            claim,
            msg,
            raw,
            item,
            parsing.Rejected("no_sender", "the mail has no single, readable From address"),
            limits,
            complete,
        )
    if not senders.allowed(mailbox.sender_pattern, from_address):
        return _quarantine(
            mailbox,
            claim,
            msg,
            raw,
            item,
            parsing.Rejected("sender_refused", f"{from_address} does not match the allowed senders"),
            limits,
            complete,
        )
    if not mailbox.allow_unknown_senders and not is_known_sender(mailbox.tenant_id, from_address):
        return _quarantine(
            mailbox,
            claim,
            msg,
            raw,
            item,
            parsing.Rejected(
                "unknown_sender",
                f"{from_address} is not known to the tenant, and the mailbox does not allow unknown senders",
            ),
            limits,
            complete,
        )
    loop_limit = int(current_app.config.get("INBOUND_LOOP_LIMIT", LOOP_LIMIT))
    if batch.recent[from_address] >= loop_limit:
        return _quarantine(
            mailbox,
            claim,
            msg,
            raw,
            item,
            parsing.Rejected("loop", f"more than {loop_limit} mails from {from_address} within an hour"),
            limits,
            complete,
        )
    try:
        trusted = policy or trust.policy(mailbox.tenant_id, mailbox)
        authenticated = authentication.is_authenticated(msg, from_address, trusted.authserv_id)
        mail = parsing.to_inbound(
            msg,
            mailbox=mailbox.name,
            authenticated=authenticated,
            sender_trusted=authenticated or trusted.accept_unauthenticated,
        )
    except parsing.Rejected as exc:
        return _quarantine(mailbox, claim, msg, raw, item, exc, limits, complete)
    result = call_inbound(mailbox.tenant_id, mail)
    if result is None:
        return _quarantine(
            mailbox,
            claim,
            msg,
            raw,
            item,
            parsing.Rejected("unhandled", "no enabled plugin took this mail"),
            limits,
            complete,
        )
    claim.link = (result.link or "")[:500]
    detail = f"{result.kind} {result.reference}".strip() + (f"; {result.detail}" if result.detail else "")
    return _record(claim, "handled", detail)


def _close_loop(tenant_id: int, bounce: bounces.Bounce) -> str:
    """Hand every failed recipient to the core; the words for the list."""
    if not bounce.failures:
        return f"a delivery report without failures ({bounce.how})"
    words = []
    message_pk = verp_message(tenant_id, bounce.envelope)
    for failure in bounce.failures:
        matched = record_bounce(
            tenant_id,
            recipient=failure.recipient,
            status=failure.status,
            diagnostic=failure.diagnostic,
            message_pk=message_pk,
            message_id=bounce.message_id,
            final=failure.final,
        )
        what = f"message {matched}" if matched is not None else "no message of ours"
        kind = "hard" if failure.status.startswith("5") else "soft"
        words.append(f"{failure.recipient}: {failure.status} ({kind}) {failure.diagnostic}; {what}".strip())
    return f"{bounce.how}: " + " | ".join(words)


def _header_only(raw: bytes, limits: parsing.Limits):
    block = parsing.header_block(raw)
    if len(block) > limits.max_header_bytes:
        return None
    try:
        msg = parsing.parser().parsebytes(block + b"\r\n\r\n", headersonly=True)
        parsing.decode_raw_headers(msg)
        return msg
    except Exception:  # only used for names on the quarantine list
        return None


def set_aside(
    mailbox: Mailbox,
    item: ServerMail,
    uidvalidity: int,
    raw: bytes,
    rejected: parsing.Rejected,
    *,
    limits: parsing.Limits,
    complete: bool = True,
) -> Outcome:
    """Keep a mail aside with nothing read from its headers: the last resort
    for a mail whose ordinary claim or handling cannot be written. In a
    savepoint of the caller's transaction, as ``take_in``."""
    savepoint = db.session.begin_nested()
    claim = SeenMail(
        tenant_id=mailbox.tenant_id,
        mailbox_id=mailbox.id,
        uidvalidity=uidvalidity,
        server_key=item.key,
        uid=item.uid,
        message_id="",
        from_address="",
        fingerprint=parsing.fingerprint("", "", raw),
        outcome="pending",
    )
    db.session.add(claim)
    try:
        db.session.flush()
    except IntegrityError:
        savepoint.rollback()
        return Outcome("taken", "another poller took this mail")
    except BaseException:
        savepoint.rollback()
        raise
    try:
        outcome = _quarantine(mailbox, claim, None, raw, item, rejected, limits, complete)
        savepoint.commit()
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    return outcome


def _record(claim: SeenMail, outcome: str, detail: str) -> Outcome:
    claim.outcome, claim.detail, claim.processed_at = outcome, detail[:2000], utcnow()
    return Outcome(outcome, detail)


def _subject(msg) -> str:
    if msg is None:
        return ""
    try:
        return parsing.clean_header(msg.get("subject", ""), 300)
    except Exception:  # an undecodable subject is shown as none
        return ""


def _quarantine(
    mailbox: Mailbox,
    claim: SeenMail,
    msg,
    raw: bytes,
    item: ServerMail,
    rejected: parsing.Rejected,
    limits: parsing.Limits,
    complete: bool,
) -> Outcome:
    subject = _subject(msg)
    kept = raw[: limits.keep_raw_bytes]
    db.session.add(
        QuarantinedMail(
            tenant_id=mailbox.tenant_id,
            mailbox_id=mailbox.id,
            seen_id=claim.id,
            reason=rejected.code,
            detail=rejected.detail[:2000],
            subject=subject,
            from_address=claim.from_address,
            message_id=claim.message_id,
            size=item.size or len(raw),
            raw=kept,
            raw_complete=complete and len(kept) == len(raw),
        )
    )
    log.info("inbound mail kept aside (mailbox %s, key %s): %s", mailbox.id, item.key, rejected.code)
    return _record(claim, "quarantined", f"{rejected.code}: {rejected.detail}")
