"""gunicorn settings for Postwerk's web process:
``gunicorn --config python:core.gunicorn_config 'postwerk:create_app()'``.

Only what Postwerk needs; anything else (workers, bind, timeouts) goes on
gunicorn's command line as usual.
"""
from __future__ import annotations

import os


def child_exit(server, worker) -> None:
    """A gunicorn worker that ends leaves its metric files to the live ones
    (prometheus-client's multiprocess mode, see docs/operations.md)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
