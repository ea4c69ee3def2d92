"""Delivery markers in Redis: what a worker did that the database may not know.

SMTP gives no way to take a mail back, so the dangerous moment is after the
server accepted a message and before ``SENT`` is committed: if the database
is away then (or the worker dies), the message stays ``SENDING`` and the
sweeper would later hand it out again (the Odoo and django-post_office
duplicate sends). Two markers close that gap:

- ``attempt:{id}`` = claim token, written after the server's 354 and just
  before the message's final dot: only a message that may have reached the
  server carries it (no marker is written ahead for the next message);
- ``sent:{id}``, written as soon as the server accepted it, before the
  database is told.

When a claim is taken back (lease expired, or RQ knows its worker is dead),
the sweeper reads them: ``sent`` -> the message is recorded SENT (never
resent); an ``attempt`` of the very claim without ``sent`` -> UNKNOWN (the
worker died while the server had the data: RFC 1047's window, shown to the
admin); neither -> PENDING, it was never handed over.

"Neither" is only true while Redis still holds what was written. A FLUSHALL,
a restart without persistence, a restart from an older snapshot or a
fail-over forget markers silently. So every claim records the Redis *epoch*
it was made under (:func:`epoch`: a random key that a flush removes, plus
the server's run_id that changes with every restart); a dead claim without
markers whose epoch is not the current one may have been sent, and becomes
UNKNOWN with that reason instead of PENDING. Redis being away while writing
a marker is logged and sending goes on, with SENT written to the database at
once (Redis being away must not stop mail).
"""

from __future__ import annotations

import logging
import secrets

from flask import current_app
from redis.exceptions import RedisError, ResponseError

from ..queueing import redis

log = logging.getLogger(__name__)

MARKER_TTL_SECONDS = 7 * 24 * 3600  # far longer than any lease


def _prefix() -> str:
    return f"{current_app.config['QUEUE_PREFIX']}:"


def _key(kind: str, message_pk: int, prefix: str | None = None) -> str:
    return f"{prefix or _prefix()}{kind}:{message_pk}"


def epoch(*, exists: str | None = None) -> str | tuple[str, bool]:
    """The current Redis epoch: ``{run_id}/{random}``. The random part lives
    in a key without expiry, created by whoever asks first after a flush; the
    run_id changes with every start of the server, so a restart from any
    persistence (or none) is a new epoch too. With ``exists``, also whether
    that key exists, in the same transaction. Raises RedisError."""
    key = f"{_prefix()}epoch"
    pipe = redis().pipeline(transaction=True)
    pipe.set(key, secrets.token_hex(8), nx=True)
    pipe.get(key)
    pipe.info("server")
    if exists is not None:
        pipe.exists(exists)
    values = pipe.execute()
    current = f"{values[2].get('run_id', '')}/{values[1].decode()}"
    return (current, bool(values[3])) if exists is not None else current


def claim_epoch(worker_key: str | None) -> tuple[str | None, bool]:
    """The epoch for a claim, and whether ``worker_key`` (the claiming RQ
    worker's registration) exists now; (None, False) when Redis cannot be
    asked."""
    try:
        if worker_key is None:
            return epoch(), False
        return epoch(exists=worker_key)
    except RedisError as exc:
        log.warning("could not read the Redis epoch: %s", exc)
        return None, False


class Writer:
    """The markers of one delivery job, on one Redis connection it holds.

    Written once per message, so redis-py's per-command machinery (a
    pipeline object, taking a pooled connection and probing it with a
    system call, packing every argument through its encoders) cost more
    than the round trip itself: the job keeps one connection and sends the
    SETs as RESP it writes itself (RESP is a stable, tiny protocol), reading
    the replies with redis-py's parser.

    The attempt marker is sent without waiting for its reply (it is in the
    socket before the final dot goes out, and a killed process's socket
    still delivers what it was given); its reply is read together with the
    sent marker's, so a message still costs one round trip.
    """

    def __init__(self) -> None:
        self._pool = redis().connection_pool
        self._conn = None
        self._prefix = _prefix()
        self._unread = 0  # replies of commands sent and not yet read
        self._failed = False  # a write since the last read failed

    def attempting(self, message_pk: int, token: str) -> None:
        """Announce that ``message_pk`` is being handed over by claim ``token``.
        Call it right before the final dot; its reply is read later."""
        try:
            self._connection().send_packed_command(
                [_set_command(self._key("attempt", message_pk), token.encode())], check_health=False
            )
            self._unread += 1
        except RedisError as exc:
            log.warning("could not write the attempt marker of message %s: %s", message_pk, exc)
            self._drop()
            self._failed = True

    def sent(self, message_pk: int) -> bool:
        """Mark ``message_pk`` sent. Returns whether this marker and every
        attempt marker announced since the last call are stored: the caller
        may delay writing SENT to the database only while they are."""
        failed, self._failed = self._failed, False
        stored = self._write(
            _set_command(self._key("sent", message_pk), b"1"), 1, f"the sent marker of message {message_pk}"
        )
        return stored and not failed

    def _key(self, kind: str, message_pk: int) -> bytes:
        return _key(kind, message_pk, self._prefix).encode()

    def _connection(self):
        if self._conn is None:
            self._conn = self._pool.get_connection()
        return self._conn

    def _write(self, data: bytes, replies: int, what: str) -> bool:
        try:
            conn = self._connection()
            conn.send_packed_command([data], check_health=False)
            self._unread += replies
            self._read_all()
            return True
        except RedisError as exc:
            log.warning("could not write %s: %s", what, exc)
            self._drop()
            return False

    def _read_all(self) -> None:
        error = None
        while self._unread:
            self._unread -= 1
            try:
                self._conn.read_response()  # raises for an error reply
            except RedisError as exc:
                if not isinstance(exc, ResponseError):
                    raise
                error = error or exc  # read the other replies first: the connection stays usable
        if error is not None:
            raise error

    def _drop(self) -> None:
        # A connection that failed mid-exchange may hold unread replies:
        # never give it back to the pool as it is.
        conn, self._conn, self._unread = self._conn, None, 0
        if conn is not None:
            conn.disconnect()
            self._pool.release(conn)

    def close(self) -> None:
        if self._unread:
            try:
                self._read_all()
            except RedisError as exc:
                log.warning("could not write an attempt marker: %s", exc)
                self._drop()
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn)


_TTL = str(MARKER_TTL_SECONDS).encode()


def _set_command(key: bytes, value: bytes) -> bytes:
    """SET key value EX ttl, as RESP."""
    return b"*5\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$2\r\nEX\r\n$%d\r\n%b\r\n" % (
        len(key),
        key,
        len(value),
        value,
        len(_TTL),
        _TTL,
    )


def outcomes(claims: list[tuple[int, str | None]]) -> dict[int, str | None]:
    """For (message pk, claim token) pairs: "sent", "attempted" (by that
    claim) or None. Raises RedisError: without the markers nobody can tell."""
    if not claims:
        return {}
    pipe = redis().pipeline(transaction=False)
    for pk, _ in claims:
        pipe.get(_key("sent", pk))
        pipe.get(_key("attempt", pk))
    values = pipe.execute()
    result: dict[int, str | None] = {}
    for index, (pk, token) in enumerate(claims):
        was_sent, attempt = values[2 * index], values[2 * index + 1]
        if was_sent is not None:
            result[pk] = "sent"
        elif attempt is not None and token is not None and attempt.decode() == token:
            result[pk] = "attempted"
        else:
            result[pk] = None
    return result
