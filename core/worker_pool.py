"""``postwerk worker --processes N``: N RQ workers forked from one process.

Every ``postwerk worker`` pays about half a second of CPU for its imports and
``create_app`` before its first job. A pool pays it once: the parent builds
the application, then forks the workers (``os.fork``, so Linux and other
Unix systems; not Windows), which start with everything loaded. The parent
runs no job and holds no database or Redis connection and no thread when it
forks; it only looks after its children:

- SIGTERM or SIGINT: every worker gets SIGTERM (RQ's warm shutdown: it
  finishes its job), the parent waits for them and exits 0. A second signal
  is passed on too (RQ's cold shutdown).
- A worker that exits while the pool is not stopping is forked again, at
  most once a second per worker; one that dies within QUICK_SECONDS of its
  start QUICK_EXITS times in a row is broken, not unlucky: the pool stops
  with exit status 1 (its messages are above) instead of forking for ever.
  A new worker gets a new name (``NAME-2.1``): the registration of one that
  was killed outlives it in Redis for a while.
- ``--burst``: the workers drain the queues and exit; the parent exits when
  all have, 0 if all did.
- A plugin installed, upgraded or removed meanwhile (core.plugin_reload) is
  noticed by the parent, not the workers: it stops them after their jobs,
  runs the migrations and re-executes itself, a fresh pool with the new
  plugins (same pid).
- ``--metrics-port``: served by the parent, between its rounds (no thread),
  in prometheus-client's multiprocess mode, which adds up the workers.

A worker whose parent is killed outright gets SIGTERM from the kernel
(Linux's parent-death signal) and stops after its job.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import random
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from flask import Flask

from . import plugin_reload, queueing
from .extensions import db
from .plugins import installed_fingerprint
from .worker import make_worker

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# A worker forked again waits until this long after its previous start.
RESTART_SECONDS = 1.0
# A worker that exits this soon after its start, this many times in a row, stops the pool.
QUICK_SECONDS = 2.0
QUICK_EXITS = 5
# How often the parent looks at its children (and answers the metrics port).
ROUND_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


@dataclass
class Slot:
    """One worker of the pool, across its restarts."""

    number: int
    pid: int | None = None
    name: str = ""
    started: float = 0.0
    forks: int = 0
    quick_exits: int = 0
    exit_code: int | None = None
    signalled: int = 0  # SIGTERMs sent to the current process


class WorkerPool:
    """``WorkerPool(app, 4).run()`` forks four workers of ``app`` and looks
    after them until the pool ends; returns the exit status (see the
    module's docstring). ``metrics``: a bound, unserved metrics port
    (core.metrics_port.bind) the parent answers between its rounds."""

    def __init__(
        self,
        app: Flask,
        processes: int,
        *,
        name: str | None = None,
        burst: bool = False,
        metrics: WSGIServer | None = None,
    ):
        if not hasattr(os, "fork"):
            raise RuntimeError("a worker pool needs os.fork (Linux); run one postwerk worker per process instead")
        self.app = app
        self.burst = burst
        self.base = name or f"{socket.gethostname()}-{os.getpid()}"
        self.slots = [Slot(number) for number in range(1, processes + 1)]
        self.metrics = metrics
        self.watch_plugins = not burst and app.config.get("PLUGIN_RELOAD", True)
        self.stops = 0  # stop signals received
        self.reloading = False
        self.broken: Slot | None = None

    @property
    def asked(self) -> int:
        """How many SIGTERMs every running worker is to have had: one per stop
        signal (the second is RQ's cold shutdown), and one for a reload or a
        broken worker, which a first stop signal then adds nothing to."""
        return max(self.stops, int(self.reloading or self.broken is not None))

    # --- the parent ------------------------------------------------------------

    def run(self) -> int:
        """Fork the workers and look after them until the pool ends; the exit status."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._stop_signal)
        for slot in self.slots:
            self._fork(slot)
        installed = installed_fingerprint() if self.watch_plugins else None
        next_look = time.monotonic() + plugin_reload.LOOK_SECONDS
        while True:
            self._reap()
            self._pass_on_stops()
            running = [slot for slot in self.slots if slot.pid is not None]
            if self.broken is not None:
                if not running:
                    return 1
            elif self.stops or self.burst:
                if not running:
                    if self.stops:
                        log.info("worker pool stopped")
                        return 0
                    return 0 if all(slot.exit_code == 0 for slot in self.slots) else 1
            else:
                now = time.monotonic()
                for slot in self.slots:
                    if slot.pid is None and now >= slot.started + RESTART_SECONDS:
                        self._fork(slot)
                if installed is not None and now >= next_look:
                    next_look = now + plugin_reload.LOOK_SECONDS
                    installed = self._look_at_plugins(installed)
            self._pause()

    def _stop_signal(self, signum, frame) -> None:
        # Passed on by the main loop (_pass_on_stops), which also reaches a
        # worker forked a moment before.
        self.stops += 1

    def _pass_on_stops(self) -> None:
        for slot in self.slots:
            while slot.pid is not None and slot.signalled < self.asked:
                slot.signalled += 1
                try:
                    os.kill(slot.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass  # exited meanwhile: reaped next round

    def _reap(self) -> None:
        for slot in self.slots:
            if slot.pid is None:
                continue
            try:
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = slot.pid, 0
            if pid == 0:
                continue
            slot.pid = None
            slot.exit_code = os.waitstatus_to_exitcode(status)
            if self.asked or self.burst:
                log.info("worker %s (pid %d) exited: %s", slot.name, pid, _describe(slot.exit_code))
                continue
            lived = time.monotonic() - slot.started
            slot.quick_exits = slot.quick_exits + 1 if lived < QUICK_SECONDS else 0
            if slot.quick_exits >= QUICK_EXITS:
                log.error(
                    "worker %s (pid %d) exited: %s; it keeps exiting within %.0f s of its start "
                    "(%d times in a row): stopping the pool. Its messages are above.",
                    slot.name,
                    pid,
                    _describe(slot.exit_code),
                    QUICK_SECONDS,
                    slot.quick_exits,
                )
                self.broken = slot
                continue
            log.warning(
                "worker %s (pid %d) exited after %.1f s: %s; starting it again",
                slot.name,
                pid,
                lived,
                _describe(slot.exit_code),
            )

    def _pause(self) -> None:
        if self.metrics is None:
            time.sleep(ROUND_SECONDS)
        else:
            self.metrics.handle_request()  # returns after a request, or ROUND_SECONDS without one

    def _look_at_plugins(self, installed: tuple) -> tuple:
        try:
            now = installed_fingerprint()
        except Exception:  # a half-written dist-info during pip's work: look again
            log.debug("reading the installed plugins failed", exc_info=True)
            return installed
        if now != installed:
            self._reload(installed, now)
        return now

    def _reload(self, before: tuple, after: tuple) -> None:
        """Stop the workers after their jobs, migrate and re-execute (a fresh
        pool with the new plugins); when the migrations fail, go on with the
        plugins loaded (the next change is noticed again)."""
        log.warning(
            "worker pool: plugins changed (%s): stopping its workers after their jobs, migrating and reloading",
            plugin_reload.describe_change(before, after),
        )
        self.reloading = True
        while any(slot.pid is not None for slot in self.slots):
            self._pass_on_stops()
            self._pause()
            self._reap()
        if self.stops:
            return  # a supervisor's SIGTERM wins over a reload: the main loop ends the pool
        try:
            with self.app.app_context():
                migrated = plugin_reload.migrate(queueing.redis(), self.app.config["QUEUE_PREFIX"], before, after)
        except Exception:  # Redis away for the lock, say: the workers come back as they were
            log.exception("the migrations after the plugin change could not run; keeping the plugins loaded")
            migrated = False
        self._let_go()
        if self.stops:
            return  # stopped while migrating: the next start has the new plugins
        if migrated:
            plugin_reload.reexec()
        self.reloading = False

    def _let_go(self) -> None:
        """Close what a child must not share: the database engines' pooled
        connections and the cached Redis clients (core.queueing), recreated
        on first use."""
        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose()
        for key in ("postwerk.redis", "postwerk.redis.wake"):
            client = self.app.extensions.pop(key, None)
            if client is not None:
                client.close()
        sys.stdout.flush()
        sys.stderr.flush()

    def _fork(self, slot: Slot) -> None:
        self._let_go()
        # Objects that exist now are never collected in the children, so
        # their collector does not write to (and copy) every page it shares.
        gc.freeze()
        slot.name = f"{self.base}-{slot.number}" + (f".{slot.forks}" if slot.forks else "")
        parent = os.getpid()
        # Held back until each side is ready: the parent has noted the pid
        # (so a stop reaches the new worker), the child has its own handlers.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._work(slot.name, parent)  # never returns
            slot.pid, slot.started, slot.signalled = pid, time.monotonic(), self.asked
            slot.forks += 1
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        log.info("worker %s started (pid %d)", slot.name, pid)

    # --- a child ---------------------------------------------------------------

    def _work(self, name: str, parent: int) -> NoReturn:
        """The worker, in the forked child: never returns (os._exit), so
        nothing of the parent's command line runs here."""
        code = 1
        try:
            # Until RQ installs its handlers a stop ends the process outright,
            # as for a worker of its own: it has taken no job yet.
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            _die_with(parent)
            me = os.getpid()
            # And RQ's scheduler, a process the worker forks, goes with the worker.
            os.register_at_fork(after_in_child=lambda: _die_with(me))
            if self.metrics is not None:
                self.metrics.socket.close()  # the parent's port
            random.seed()
            with self.app.app_context():
                for engine in db.engines.values():
                    engine.dispose(close=False)  # the parent's connections (none), left to it
            worker = make_worker(self.app, name=name)
            worker.watch_plugins = False  # the parent watches for the pool (_reload)
            worker.work(burst=self.burst, with_scheduler=True)
            code = 0
        except SystemExit as exc:  # RQ's cold shutdown
            code = exc.code if isinstance(exc.code, int) else 0
        except BaseException:
            log.exception("worker %s failed", name)
        finally:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def _die_with(parent: int) -> None:
    """SIGTERM (a warm shutdown) for this worker when the parent dies, killed
    outright or not: no worker is left without its pool (Linux only)."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _describe(code: int | None) -> str:
    if code is None:
        return "unknown"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"
