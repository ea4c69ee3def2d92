"""A process's own metrics port, for workers and schedulers on other machines.

prometheus-client's multiprocess mode adds up the processes of one machine
(they share ``PROMETHEUS_MULTIPROC_DIR``); the web's ``/metrics`` cannot see
the counters of a worker on another machine. ``postwerk worker
--metrics-port`` (and ``postwerk scheduler --metrics-port``) serve this
process's counters, or in multiprocess mode those of every process of the
machine, on a port of its own, for Prometheus to scrape each machine and
add them up (docs/operations.md). The figures read from the database and
Redis (messages, queue depth, workers) stay with the web's ``/metrics``:
served by every worker too they would be counted once per machine.
"""

from __future__ import annotations

import os
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app, start_http_server
from prometheus_client.registry import Collector


class MetricsPortError(RuntimeError):
    """The metrics port cannot be opened (taken, or an address not of this machine)."""


def process_registry() -> Collector:
    """This process's counters, or the machine's in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # only in multiprocess mode: it reads the folder

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def serve(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve ``/metrics`` (any path, as prometheus-client does) on ``host:port``
    in a daemon thread; returns the server (``shutdown()`` stops it)."""
    try:
        server, _thread = start_http_server(port, addr=host, registry=process_registry())
    except OSError as exc:
        raise MetricsPortError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
    return server


class _QuietHandler(WSGIRequestHandler):
    # A scrape that stalls must not hold the process serving it in between
    # its other work (``bind``) for long.
    timeout = 5

    def log_message(self, format, *args):
        """Log nothing (as prometheus-client's own server)."""


def bind(port: int, host: str = "127.0.0.1", *, wait: float = 0.2) -> WSGIServer:
    """The port of ``serve`` without its thread: the caller answers one
    request at a time with ``handle_request()``, which waits at most ``wait``
    seconds for one (a worker pool's parent forks no thread, core.worker_pool)."""
    try:
        server = make_server(host, port, make_wsgi_app(process_registry()), WSGIServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise MetricsPortError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
    server.timeout = wait
    return server
