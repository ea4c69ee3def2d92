"""Delivery markers in Redis: what a worker did that the database may not know.

SMTP gives no way to take a mail back, so the dangerous moment is after the
server accepted a message and before ``SENT`` is committed: if the database
is away then (or the worker dies), the message stays ``SENDING`` and the
sweeper would later hand it out again (the Odoo and django-post_office
duplicate sends). Two markers close that gap:

- ``attempt:{id}`` = claim token, written just before the message is handed
  to the server;
- ``sent:{id}``, written as soon as the server accepted it, before the
  database is told.

When a lease expires, the sweeper reads them: ``sent`` -> the message is
recorded SENT (never resent); an ``attempt`` of the very claim that expired
without ``sent`` -> UNKNOWN (the worker died while the server had the data:
RFC 1047's window, shown to the admin); neither -> PENDING, it was never
handed over. A Redis error while writing a marker is logged and sending goes
on: Redis being away must not stop mail (the window is then the classic one).
"""
from __future__ import annotations

import logging

from flask import current_app
from redis.exceptions import RedisError

from ..queueing import redis

log = logging.getLogger(__name__)

MARKER_TTL_SECONDS = 7 * 24 * 3600  # far longer than any lease


def _prefix() -> str:
    return f"{current_app.config['QUEUE_PREFIX']}:"


def _key(kind: str, message_pk: int, prefix: str | None = None) -> str:
    return f"{prefix or _prefix()}{kind}:{message_pk}"


class Writer:
    """The markers of one delivery job, on one Redis connection it holds.

    Written once per message, so redis-py's per-command machinery (a
    pipeline object, taking a pooled connection and probing it with a
    system call, packing every argument through its encoders) cost more
    than the round trip itself: the job keeps one connection and sends the
    two SETs as RESP it writes itself (RESP is a stable, tiny protocol),
    reading the replies with redis-py's parser.
    """

    def __init__(self) -> None:
        self._pool = redis().connection_pool
        self._conn = None
        self._prefix = _prefix()

    def attempting(self, message_pk: int, token: str) -> bool:
        return self._write(_set_command(self._key("attempt", message_pk), token.encode()), 1,
                           f"the attempt marker of message {message_pk}")

    def sent(self, message_pk: int, *, next_attempt: tuple[int, str] | None = None) -> bool:
        """Mark ``message_pk`` sent and, in the same round trip, announce the
        attempt of the next message of the batch (one Redis round trip per
        mail instead of two). Should the worker die between this and handing
        over the next message, that one turns UNKNOWN rather than PENDING:
        the safe side, never a second send.

        Returns whether the marker is stored: the caller may delay writing
        SENT to the database only while it is."""
        data = _set_command(self._key("sent", message_pk), b"1")
        if next_attempt is not None:
            data += _set_command(self._key("attempt", next_attempt[0]), next_attempt[1].encode())
        return self._write(data, 1 + (next_attempt is not None), f"the sent marker of message {message_pk}")

    def _key(self, kind: str, message_pk: int) -> bytes:
        return _key(kind, message_pk, self._prefix).encode()

    def _write(self, data: bytes, replies: int, what: str) -> bool:
        try:
            if self._conn is None:
                self._conn = self._pool.get_connection()
            self._conn.send_packed_command([data], check_health=False)
            for _ in range(replies):
                self._conn.read_response()  # raises for an error reply
            return True
        except RedisError as exc:
            log.warning("could not write %s: %s", what, exc)
            self._drop()
            return False

    def _drop(self) -> None:
        # A connection that failed mid-exchange may hold unread replies:
        # never give it back to the pool as it is.
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
            self._pool.release(conn)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn)


_TTL = str(MARKER_TTL_SECONDS).encode()


def _set_command(key: bytes, value: bytes) -> bytes:
    """SET key value EX ttl, as RESP."""
    return b"*5\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n$2\r\nEX\r\n$%d\r\n%b\r\n" % (
        len(key), key, len(value), value, len(_TTL), _TTL)


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
