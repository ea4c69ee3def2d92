"""Taking up a plugin that was installed, upgraded or removed while a
process runs, outside ``postwerk serve`` (which restarts its children
itself, core.serve).

Each long-running process watches a cheap fingerprint of the installed
plugins (``installed_fingerprint``: the entry points of the
``postwerk.plugins`` group with their distributions' versions) from a
background thread. When it changes, the process reloads gracefully:

- an RQ worker (``postwerk worker`` or ``rq worker -w
  core.worker.PostwerkWorker``) stops between jobs -- RQ's warm shutdown,
  so the job it runs is finished, and jobs queued meanwhile wait in Redis --,
  runs the migrations and re-executes itself (same pid, same command line);
- gunicorn's master (``core.gunicorn_config``) runs the migrations and sends
  itself SIGHUP: gunicorn starts new workers, which load the application
  afresh, and stops the old ones after their requests (``graceful_timeout``).

The migrations run in a child ``postwerk db upgrade``, because only a fresh
process sees the new plugin's migration folder; a Redis lock makes the
processes that noticed the change take turns, and the first notes in Redis
that this set of plugins is migrated, so the others start no child at all.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .plugins import installed_fingerprint

log = logging.getLogger(__name__)

# How often a process compares the installed plugins (a scan of the
# installation's *.dist-info folders, a few milliseconds).
LOOK_SECONDS = 2.0
# The longest the migrations of a plugin may take, and wait for the lock.
MIGRATE_SECONDS = 300
LOCK_NAME = "plugin-migrations"


def describe_change(before: tuple, after: tuple) -> str:
    """``installed: x; removed: -; upgraded: y`` for the log."""
    added = sorted({name for name, *_ in after} - {name for name, *_ in before})
    removed = sorted({name for name, *_ in before} - {name for name, *_ in after})
    changed = sorted({e[0] for e in set(after) ^ set(before)} - set(added) - set(removed))
    return (
        f"installed: {', '.join(added) or '-'}; removed: {', '.join(removed) or '-'}; "
        f"upgraded: {', '.join(changed) or '-'}"
    )


def needs_migration(before: tuple, after: tuple) -> bool:
    """Whether the installed plugins changed at all: an installed or upgraded
    plugin brings its migrations, and a removed one has its Alembic revision
    set aside at once (core.plugin_revisions), which logs its name."""
    return set(after) != set(before)


class PluginWatch:
    """Calls ``on_change(before, after)`` from a daemon thread when the
    installed plugins differ from those the process started with; once per
    change (the baseline moves on)."""

    def __init__(self, on_change: Callable[[tuple, tuple], None], *, interval: float = LOOK_SECONDS):
        self.on_change = on_change
        self.interval = interval
        self.installed = installed_fingerprint()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PluginWatch:
        self._thread = threading.Thread(target=self._run, name="plugin-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                now = installed_fingerprint()
            except Exception:  # a half-written dist-info during pip's work: look again
                log.debug("reading the installed plugins failed", exc_info=True)
                continue
            if now != self.installed:
                before, self.installed = self.installed, now
                try:
                    self.on_change(before, now)
                except Exception:  # the watch must survive for the next change
                    log.exception("reacting to a plugin change failed")


def console_script() -> list[str]:
    """The ``postwerk`` command of this installation (beside the
    interpreter first: PATH may lead to another installation's)."""
    beside = Path(sys.executable).with_name("postwerk")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("postwerk")
    return [found] if found else [sys.executable, "-m", "core.cli"]


def migrate(redis_connection, prefix: str, before: tuple, after: tuple) -> bool:
    """``postwerk db upgrade`` in a child process, one process at a time
    across the installation (a Redis lock), when a plugin was installed,
    upgraded or removed; True when it succeeded or nothing was to do."""
    if not needs_migration(before, after):
        return True
    # Once per set of installed plugins: whoever holds the lock first
    # migrates and notes it; the others find the note and start no child.
    done_key = f"{prefix}:{LOCK_NAME}:done"
    wanted = hashlib.sha256(repr(after).encode()).hexdigest()
    lock = redis_connection.lock(f"{prefix}:{LOCK_NAME}", timeout=MIGRATE_SECONDS, blocking_timeout=MIGRATE_SECONDS)
    with lock:
        if redis_connection.get(done_key) == wanted.encode():
            return True
        run = subprocess.run(
            [*console_script(), "db", "upgrade"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=MIGRATE_SECONDS,
        )
        if run.returncode == 0:
            redis_connection.set(done_key, wanted, ex=24 * 3600)
            # A warning, so that it shows in gunicorn's master too (no logging set up there).
            log.warning("migrated the database for the changed plugins (postwerk db upgrade)")
            # What the child said of removed or returned plugins belongs in this log.
            for line in (run.stdout + run.stderr).splitlines():
                if " core.plugin_revisions: " in line:
                    log.warning("%s", line.split(" core.plugin_revisions: ", 1)[1])
    if run.returncode != 0:
        log.error(
            "the migrations after a plugin change failed; this process keeps the plugins it has:\n%s%s",
            run.stdout,
            run.stderr,
        )
        return False
    return True


def reexec() -> None:
    """Replace this process by a fresh start of the same command line (same
    pid, so a supervisor such as systemd sees no exit)."""
    sys.stdout.flush()
    sys.stderr.flush()
    # orig_argv, not argv: ``python -m core.cli worker`` must stay a module run.
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
