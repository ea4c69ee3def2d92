"""A fixed-window rate limit in Redis, for public pages (per client address).

Redis is only a guard here: if it is unreachable the request is let through
(a spam wave is a smaller harm than refusing every visitor), and a warning is
logged.
"""

from __future__ import annotations

import logging
import time

from flask import current_app, request
from redis.exceptions import RedisError

from .queueing import redis

log = logging.getLogger(__name__)


def allow(bucket: str, *, limit: int, window: int) -> bool:
    """Count one hit in ``bucket`` and say whether it is within ``limit`` per
    ``window`` seconds (a fixed window: at most 2x limit across a boundary)."""
    slot = int(time.time() // window)
    key = f"{current_app.config['QUEUE_PREFIX']}:ratelimit:{bucket}:{slot}"
    try:
        pipe = redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window + 1)
        count, _ = pipe.execute()
    except RedisError as exc:
        log.warning("rate limit %s not checked (Redis: %s)", bucket, exc)
        return True
    return int(count) <= limit


def client_address() -> str:
    """The address of the client of the current request (as the WSGI server
    sees it: put ProxyFix in front when running behind a reverse proxy)."""
    return request.remote_addr or "unknown"
