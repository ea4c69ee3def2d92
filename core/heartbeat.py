"""The worker's heartbeat as the deliverer sees it.

Apart from ``core.worker`` so that the mail pipeline (``core.mail.delivery``
asks "is my heartbeat overdue?") does not import the worker, which sits in
the layer above it (it builds the app). The worker writes ``last_beat``;
the deliverer only reads it through ``heartbeat_stale``.
"""

from __future__ import annotations

import time

HEARTBEAT_SECONDS = 5
HEARTBEAT_TTL = 20
# A worker whose last confirmed heartbeat is older than this hands nothing
# more over: its registration may have expired (Redis unreachable from here,
# but not from the sweeper), and its claims may be someone else's by now.
HEARTBEAT_STALE = HEARTBEAT_TTL - HEARTBEAT_SECONDS

last_beat: float | None = None  # monotonic, before the last heartbeat Redis confirmed; None outside a job


def heartbeat_stale() -> bool:
    """Whether this process runs a job whose heartbeat is overdue (see HEARTBEAT_STALE)."""
    last = last_beat
    return last is not None and time.monotonic() - last > HEARTBEAT_STALE
