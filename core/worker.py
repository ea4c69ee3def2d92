"""The RQ worker Postwerk runs.

A non-forking worker (RQ's SimpleWorker): the default forking worker costs a
fork per job and cannot share the SQLAlchemy pool across the fork. Jobs are
batches (all due mail of one tenant), so isolation per job buys little.
Each job runs in a fresh application context.

While a job runs, a thread renews the worker's RQ registration every
HEARTBEAT_SECONDS with a short expiry (RQ's SimpleWorker would set it to the
job timeout + 60 s once): a killed worker's registration is gone within
HEARTBEAT_TTL seconds, and the sweeper takes its claimed mail back then
instead of after the whole lease (core.mail.sweeper.reclaim).
"""

from __future__ import annotations

import logging
import math
import threading
import time

from flask import Flask, g
from redis.exceptions import RedisError
from rq import SimpleWorker

from . import heartbeat as beat_state, logs, plugin_reload, queueing
from .heartbeat import HEARTBEAT_SECONDS, HEARTBEAT_STALE, HEARTBEAT_TTL, heartbeat_stale  # noqa: F401 (names kept)
from .app import create_app
from .plugin_reload import PluginWatch, describe_change
from .metrics import JOB_SECONDS

log = logging.getLogger(__name__)

_process_app: Flask | None = None


def process_app() -> Flask:
    """The app this process builds from the environment, once (RQ's own
    command line constructs the worker without one)."""
    global _process_app
    if _process_app is None:
        _process_app = create_app()
    return _process_app


class PostwerkWorker(SimpleWorker):
    """``app`` defaults to the application built from the environment, so
    RQ's own command line works too: ``rq worker -w core.worker.PostwerkWorker``
    (with ``--url`` and the queue name, see docs/operations.md)."""

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if app is None:
            app = process_app()
        self.app = app
        # False in a worker pool's child: the pool's parent watches the
        # plugins and reloads the pool (core.worker_pool).
        self.watch_plugins = True
        self.watching = False
        self.plugin_change: tuple[tuple, tuple] | None = None
        self.stop_signalled = False

    def work(self, *args, burst: bool = False, **kwargs):
        # A burst worker drains the queue and exits: its jobs never linger
        # for more work (core.mail.jobs.Linger).
        self.lingers = not burst
        # A long-running worker takes up a plugin installed, upgraded or
        # removed meanwhile (core.plugin_reload): it stops between jobs,
        # migrates and re-executes itself.
        self.plugin_change = None
        watch = (
            None
            if burst or not self.watch_plugins or not self.app.config.get("PLUGIN_RELOAD", True)
            else PluginWatch(self._plugins_changed).start()
        )
        self.watching = watch is not None
        try:
            while True:
                worked = super().work(*args, burst=burst, **kwargs)
                if self.plugin_change is None or self.stop_signalled:
                    return worked  # a supervisor's SIGTERM wins over a reload
                before, after = self.plugin_change
                log.warning(
                    "worker %s: plugins changed (%s): finished its job, migrating and reloading",
                    self.name,
                    describe_change(before, after),
                )
                with self.app.app_context():
                    migrated = plugin_reload.migrate(self.connection, self.app.config["QUEUE_PREFIX"], before, after)
                if migrated:
                    if watch is not None:
                        watch.stop()
                    plugin_reload.reexec()
                # The migrations failed: go on with the plugins loaded (the
                # next change is noticed again).
                self.plugin_change = None
                self.lingers = True
        finally:
            if watch is not None:
                watch.stop()

    def _plugins_changed(self, before: tuple, after: tuple) -> None:
        """From the watch thread: end a lingering job and take no new one."""
        self.plugin_change = (before, after)
        self.lingers = False

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """RQ's blocking wait for a job, in steps of a few seconds while a
        plugin watch runs, so an idle worker notices a plugin change; None
        (RQ's "stop") once one was noticed."""
        if timeout is None or not self.watching:
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        idle_since = time.monotonic()
        while self.plugin_change is None:
            step = max(1, int(plugin_reload.LOOK_SECONDS))
            if max_idle_time is not None:
                left = max_idle_time - (time.monotonic() - idle_since)
                if left <= 0:
                    return None
                step = max(1, min(step, math.ceil(left)))
            result = super().dequeue_job_and_maintain_ttl(min(timeout, step), max_idle_time=step)
            if result is not None:
                return result
        return None

    def request_stop(self, signum, frame):
        self.stop_signalled = True
        self.lingers = False  # a warm shutdown does not wait for a lingering job
        return super().request_stop(signum, frame)

    def perform_job(self, job, queue):
        # Every line the job logs names its tenant and job; its run time goes
        # to the job duration histogram of /metrics.
        tenant = job.args[0] if job.args and isinstance(job.args[0], int) else None
        name = job.func_name.rsplit(".", 1)[-1]
        token = logs.bind(tenant=tenant, job=job.id)
        started = time.perf_counter()
        beat_state.last_beat = time.monotonic()  # RQ registered the worker for this job just now
        done = threading.Event()
        beating = threading.Thread(target=self._beat, args=(done,), name="heartbeat", daemon=True)
        beating.start()
        try:
            with self.app.app_context():
                g.postwerk_worker = self
                return super().perform_job(job, queue)
        finally:
            done.set()
            beating.join()
            beat_state.last_beat = None
            try:  # back to RQ's own expiry for an idle worker
                self.heartbeat()
            except RedisError:
                pass
            JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
            logs.unbind(token)

    def _beat(self, done: threading.Event) -> None:
        while True:
            try:
                sent = time.monotonic()
                self.heartbeat(HEARTBEAT_TTL)
                beat_state.last_beat = sent
            except RedisError as exc:  # Redis away: the lease stays the last resort
                log.warning("worker heartbeat failed: %s", exc)
            if done.wait(HEARTBEAT_SECONDS):
                return


def make_worker(app: Flask, *, name: str | None = None) -> PostwerkWorker:
    with app.app_context():
        # System mail first, bulk last (queueing.PRIORITY_KINDS); RQ takes
        # from the first non-empty queue in this order.
        qs = queueing.queues()
        return PostwerkWorker(qs, connection=qs[0].connection, app=app, name=name)
