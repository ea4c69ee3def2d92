"""Shared plumbing for helpers that run a server as a child process."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import ServerUnavailable


def find_program(name: str, *fallbacks: str | Path, package: str) -> str:
    """Path of an executable: ``$PATH`` first, then the given fallbacks.

    Debian puts some daemons in sbin or versioned directories that are not on
    a normal user's PATH, hence the fallbacks. Raises ServerUnavailable naming
    the Debian package so the skip reason tells the developer what to install.
    """
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ServerUnavailable(f"{name} is not installed (apt-get install {package}, or run scripts/bootstrap as root)")


def as_user(user: str | int | None) -> dict:
    """Popen keyword arguments that run the child as ``user`` (None: as we are).

    Takes the user's primary group and drops our supplementary groups too;
    setting only the uid would leave a server started by root with gid 0.
    """
    if user is None:
        return {}
    account = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(user)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    log_path: Path,
    *,
    user: str | int | None = None,
    death_signal: str = "TERM",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in the foreground, its output appended to ``log_path``.

    - Output goes to a file rather than a pipe: nobody reads a pipe while the
      tests run, and a full pipe would freeze the server.
    - ``start_new_session`` keeps a Ctrl-C in the terminal from reaching the
      server before our teardown does (it would die half way through a test).
    - ``setpriv --pdeathsig`` makes the kernel signal the server when the test
      process dies without running its teardown (SIGKILL, a CI time-out), so
      no orphaned servers pile up. The signal fires when the *thread* that
      spawned the server exits, so start servers from a long-lived thread (the
      main thread, as pytest fixtures do). We use setpriv instead of a
      ``preexec_fn`` because preexec_fn is unsafe in a process with threads,
      and the SMTP sinks run threads.
    - ``user`` switches identity in the child (Popen's setuid support) instead
      of wrapping with runuser/su: those stay as the parent process and turn
      every signal into SIGTERM, which would break PostgreSQL's fast shutdown.
    """
    command = [os.fspath(arg) for arg in argv]
    setpriv = shutil.which("setpriv")
    if setpriv:
        command = [setpriv, f"--pdeathsig={death_signal}", "--", *command]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            **as_user(user),
        )


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Ask a server to exit with ``sig``; SIGKILL it if it has not after ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
    except ProcessLookupError:  # exited between poll() and send_signal()
        proc.wait(timeout=timeout)


def log_tail(path: Path, lines: int = 25) -> str:
    """The last lines of a server log, to put into error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(empty log {path})"


def wait_until_ready(
    check: Callable[[], bool],
    *,
    what: str,
    proc: subprocess.Popen[bytes] | None,
    log_path: Path,
    timeout: float,
) -> None:
    """Poll ``check`` until it returns True; fail with the log tail otherwise.

    Stops early when the process has already exited, because then waiting the
    full timeout only delays the (more useful) error message.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with status {proc.returncode} during start-up. Log {log_path}:\n{log_tail(log_path)}"
            )
        if check():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what} did not become ready within {timeout:.0f} s. Log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.05)
