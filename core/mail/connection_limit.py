"""At most N simultaneous SMTP connections per tenant, across every worker
and machine.

A counting semaphore in Redis: a sorted set per tenant whose members are
leases (random ids) scored by their expiry time. Acquiring removes expired
leases and adds one if fewer than N remain, atomically in a Lua script; the
holder renews its lease while the connection is in use and removes it when
the connection is closed. A worker that dies without releasing blocks a slot
only until its lease expires.
"""

from __future__ import annotations

import logging
import secrets
import time

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError

from ..queueing import redis

log = logging.getLogger(__name__)

# KEYS[1] = set; ARGV = now, expires_at, limit, lease id
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[2] - ARGV[1]) + 60)
  return 1
end
return 0
"""

# Renew only a lease we still hold: an expired one may already be reused.
_RENEW = """
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[2])
  return 1
end
return 0
"""


class ConnectionLimit:
    """One lease on the tenant's connection slots; renew while in use."""

    def __init__(self, conn: Redis, tenant_id: int, limit: int, lease_seconds: float, *, prefix: str):
        self.conn = conn
        self.key = f"{prefix}:smtp-slots:{tenant_id}"
        self.limit = max(1, int(limit or 1))
        self.lease_seconds = lease_seconds
        self.lease_id: str | None = None
        self._renewed_at = 0.0

    @classmethod
    def for_tenant(cls, tenant_id: int, limit: int) -> "ConnectionLimit":
        # The lease outlives the longest a connection can sit silent (one
        # socket timeout per command) and is renewed well before it ends.
        lease = max(60.0, current_app.config["SMTP_TIMEOUT"] * 4)
        return cls(redis(), tenant_id, limit, lease, prefix=current_app.config["QUEUE_PREFIX"])

    @property
    def held(self) -> bool:
        return self.lease_id is not None

    def acquire(self) -> bool:
        if self.lease_id is not None:
            return True
        lease_id = secrets.token_hex(8)
        now = time.time()
        try:
            granted = self.conn.eval(_ACQUIRE, 1, self.key, now, now + self.lease_seconds, self.limit, lease_id)
        except RedisError as exc:
            # Without Redis the limit cannot be kept: no connection (the mail
            # waits, nothing is lost) rather than an unbounded number.
            log.warning("connection limit unavailable (Redis: %s); not connecting", exc)
            return False
        if granted:
            self.lease_id = lease_id
            self._renewed_at = time.monotonic()
            return True
        return False

    def renew(self, *, force: bool = False) -> bool:
        """Extend the lease; cheap enough per message, but only sent when a
        third of the lease has passed."""
        if self.lease_id is None:
            return False
        if not force and time.monotonic() - self._renewed_at < self.lease_seconds / 3:
            return True
        try:
            ok = bool(self.conn.eval(_RENEW, 1, self.key, time.time() + self.lease_seconds, self.lease_id))
        except RedisError as exc:
            log.warning("could not renew the connection lease (Redis: %s)", exc)
            return False
        if ok:
            self._renewed_at = time.monotonic()
        else:
            self.lease_id = None
        return ok

    def release(self) -> None:
        lease_id, self.lease_id = self.lease_id, None
        if lease_id is not None:
            try:
                self.conn.zrem(self.key, lease_id)
            except RedisError as exc:  # the lease expires by itself
                log.warning("could not release the connection lease (Redis: %s)", exc)

    def in_use(self) -> int:
        return self.conn.zcount(self.key, time.time(), "+inf")
