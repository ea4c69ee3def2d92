"""Bounces close the loop: the sent message becomes BOUNCED, the address is
suppressed after a hard bounce (or repeated soft ones), and rules skip it.

The inbound side (a plugin reading the tenant's bounce mailbox) finds the
message and the failed recipient and calls :func:`record_bounce` inside its
own transaction, commits, then calls :func:`announce_bounces`:
``postwerk_delivery_outcome`` is called with ``BOUNCED`` after the commit, as
for every other final state.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from .extensions import db
from .models import Message, MessageStatus
from .models.suppression import SuppressedAddress
from .mail.failure_mail import tell_admins
from .notify import audit
from .plugins import registry
from .tenancy import get_tenant, tenant_ref

log = logging.getLogger(__name__)

#: Soft bounces (4.x.x) of one address before it is suppressed.
SOFT_BOUNCE_LIMIT = 3
_OUTCOMES = "postwerk.bounce_outcomes"


def find_message(tenant_id: int, *, message_pk: int | None = None, message_id: str = "") -> Message | None:
    """The tenant's sent message by primary key (VERP) or Message-ID header."""
    query = db.select(Message).where(Message.tenant_id == tenant_id)
    if message_pk is not None:
        found = db.session.execute(query.where(Message.id == message_pk)).scalar()
        if found is not None:
            return found
    message_id = (message_id or "").strip()
    if message_id:
        if not message_id.startswith("<"):
            message_id = f"<{message_id}>"
        return db.session.execute(query.where(Message.message_id == message_id)).scalar()
    return None


def record_bounce(
    tenant_id: int,
    *,
    recipient: str,
    status: str,
    diagnostic: str = "",
    message_pk: int | None = None,
    message_id: str = "",
    final: bool = True,
) -> int | None:
    """Record that mail to ``recipient`` bounced with DSN ``status`` (e.g.
    ``5.1.1``) and the server's ``diagnostic``. ``final=False`` is a delay
    notice (DSN ``Action: delayed``): counted as a soft bounce, the message
    stays as it is. Returns the matched message's id, or None when no
    message of the tenant matches (the address is still counted). Runs in the
    caller's transaction; the caller commits."""
    recipient = (recipient or "").strip().lower()
    hard = status.startswith("5")
    words = f"{status} {diagnostic}".strip()[:1000]
    message = find_message(tenant_id, message_pk=message_pk, message_id=message_id)
    if (
        final
        and message is not None
        and message.status in (MessageStatus.SENT, MessageStatus.UNKNOWN, MessageStatus.BOUNCED)
    ):
        message.status = MessageStatus.BOUNCED
        message.last_error = f"bounced: {recipient}: {words}"[:2000]
        audit(
            tenant_id,
            "system",
            "mail.bounced",
            "message",
            message.id,
            recipient=recipient,
            status=status,
            diagnostic=diagnostic[:500],
        )
        _after_commit_outcome(message.tenant_id, message.id, message.last_error)
    if recipient:
        note(
            tenant_id,
            recipient,
            hard=hard,
            reason=words + (f" (message {message.id})" if message else ""),
            message_pk=message.id if message else None,
        )
    return message.id if message is not None else None


def note(tenant_id: int, address: str, *, hard: bool, reason: str, message_pk: int | None = None) -> SuppressedAddress:
    """A hard bounce suppresses the address; a soft one counts towards the limit."""
    address = address.strip().lower()
    row = db.session.execute(
        db.select(SuppressedAddress).where(
            SuppressedAddress.tenant_id == tenant_id, SuppressedAddress.address == address
        )
    ).scalar()
    if row is None:
        row = SuppressedAddress(tenant_id=tenant_id, address=address, suppressed=False, reason="", soft_bounces=0)
        db.session.add(row)
    if hard:
        row.suppressed = True
    else:
        row.soft_bounces = (row.soft_bounces or 0) + 1
        if row.soft_bounces >= SOFT_BOUNCE_LIMIT:
            row.suppressed = True
            reason = f"{row.soft_bounces} soft bounces; last: {reason}"
    row.reason, row.message_pk = reason[:2000], message_pk
    db.session.flush()
    return row


def unsuppress(tenant_id: int, row_id: int) -> SuppressedAddress | None:
    row = db.session.get(SuppressedAddress, row_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    db.session.delete(row)
    return row


_NO_SUCH_USER = re.compile(r"\b5\.1\.(?:1|10)\b")


def note_refused_at_rcpt(tenant_id: int, message_pk: int, refused: dict[str, str]) -> None:
    """A synchronous refusal at RCPT with 5.1.1 (no such user) or 5.1.10
    (null MX) is as final as a hard bounce: suppress the address. Other 5xx
    answers (policy, spam) say nothing about the address itself."""
    for address, answer in refused.items():
        if _NO_SUCH_USER.search(answer or ""):
            note(
                tenant_id,
                address,
                hard=True,
                reason=f"refused at RCPT: {answer}"[:1000] + f" (message {message_pk})",
                message_pk=message_pk,
            )


def suppressed(tenant_id: int, addresses: list[str]) -> dict[str, str]:
    """{address: reason} for those of ``addresses`` the tenant suppresses."""
    wanted = sorted({a.strip().lower() for a in addresses if a})
    if not wanted:
        return {}
    rows = db.session.execute(
        db.select(SuppressedAddress.address, SuppressedAddress.reason).where(
            SuppressedAddress.tenant_id == tenant_id,
            SuppressedAddress.suppressed,
            SuppressedAddress.address.in_(wanted),
        )
    ).all()
    return {address: reason for address, reason in rows}


class SuppressionSnapshot:
    """The tenant's suppression list as one batch of expansions sees it.

    A query per event cost more than rendering its mail (an IN query built,
    compiled and run for every event of a steady stream), so a batch asks
    once: most tenants suppress nobody, and a list of up to ``PRELOAD``
    addresses is read into memory whole. A longer one is asked per event,
    as before. Taken at the start of each batch, so an address suppressed
    meanwhile counts from the next batch on (seconds at most)."""

    PRELOAD = 20_000

    def __init__(self, tenant_id: int):
        self.tenant_id = tenant_id
        rows = db.session.execute(
            db.select(SuppressedAddress.address, SuppressedAddress.reason)
            .where(SuppressedAddress.tenant_id == tenant_id, SuppressedAddress.suppressed)
            .limit(self.PRELOAD + 1)
        ).all()
        self._all: dict[str, str] | None = dict(rows) if len(rows) <= self.PRELOAD else None

    def __call__(self, addresses: list[str]) -> dict[str, str]:
        """Like ``suppressed()``: {address: reason} of those suppressed."""
        if self._all is None:
            return suppressed(self.tenant_id, addresses)
        if not self._all:
            return {}
        wanted = {a.strip().lower() for a in addresses if a}
        return {a: self._all[a] for a in wanted if a in self._all}


def _after_commit_outcome(tenant_id: int, message_pk: int, detail: str) -> None:
    session = db.session()
    # The savepoint it is recorded in (None: the transaction itself): when
    # that savepoint is rolled back (one mail of a poller's batch), the
    # outcome goes with it, and the outcomes recorded before it stay.
    where = session.get_nested_transaction()
    session.info.setdefault(_OUTCOMES, []).append((where, tenant_id, message_pk, detail))
    if not sa_event.contains(Session, "after_soft_rollback", _after_soft_rollback):
        sa_event.listen(Session, "after_soft_rollback", _after_soft_rollback)


def announce_bounces() -> int:
    """Call ``postwerk_delivery_outcome`` with ``BOUNCED`` for the bounces
    recorded in the transaction the caller has just committed (a hook may use
    the database, which it cannot inside SQLAlchemy's after-commit event).
    Returns how many were announced."""
    outcomes = db.session().info.pop(_OUTCOMES, None)
    if not outcomes:
        return 0
    for _, tenant_id, message_pk, detail in outcomes:
        tell_admins(tenant_id, message_pk, MessageStatus.BOUNCED, detail)
        try:
            registry().hook("postwerk_delivery_outcome", tenant_id)(
                tenant=tenant_ref(get_tenant(tenant_id)),
                message_id=message_pk,
                status=MessageStatus.BOUNCED,
                detail=detail,
            )
        except Exception:  # a plugin's bug must not touch the committed outcome
            log.exception("postwerk_delivery_outcome failed for message %s", message_pk)
    return len(outcomes)


def _after_soft_rollback(session: Session, previous) -> None:
    outcomes = session.info.get(_OUTCOMES)
    if not outcomes:
        return
    if not previous.nested:
        if previous.parent is None:  # the whole transaction
            session.info.pop(_OUTCOMES, None)
        return
    session.info[_OUTCOMES] = [entry for entry in outcomes if not _inside(entry[0], previous)]


def _inside(transaction, savepoint) -> bool:
    while transaction is not None:
        if transaction is savepoint:
            return True
        transaction = transaction.parent
    return False
