"""`postwerk serve`: one command runs web, workers, AUTOMATE's scheduler, Valkey and a mail catcher."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.ports import free_port

_SCRIPT = Path(sys.executable).parent / "postwerk"
POSTWERK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "core.cli"]


def _wait(what: str, check, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.5)


def _web_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _runs(path: Path) -> list[str]:
    try:
        with sqlite3.connect(path) as conn:
            return [key for (key,) in conn.execute("SELECT task_key FROM automate_run")]
    except sqlite3.Error:
        return []


def test_serve_runs_every_process_and_stops_them(tmp_path):
    database = tmp_path / "postwerk.sqlite3"
    web, catcher, redis_port = free_port(), free_port(), free_port()
    env = {**os.environ, "POSTWERK_ENV": "development", "POSTWERK_DATABASE_URL": f"sqlite:///{database}",
           "POSTWERK_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",  # nothing there: Valkey is embedded
           "POSTWERK_QUEUE_PREFIX": f"servetest{os.getpid()}"}
    with open(tmp_path / "serve.log", "wb") as log:
        serve = subprocess.Popen([*POSTWERK, "serve", "--port", str(web), "--workers", "1",
                                  "--mail-catcher-port", str(catcher)], env=env, cwd=tmp_path,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait("the web app", lambda: _web_answers(web))
        subprocess.run([*POSTWERK, "tenants", "create", "demo", "Demo GmbH", "--admin-email", "a@demo.example",
                        "--admin-password", "demo-password"], env=env, cwd=tmp_path, check=True,
                       capture_output=True)
        # AUTOMATE's scheduler, started by serve, runs the new tenant's tasks.
        _wait("AUTOMATE's first runs", lambda: {"mail_worker", "sweeper", "retention"} <= set(_runs(database)))
        with socket.create_connection(("127.0.0.1", catcher), timeout=5) as sock:
            assert sock.recv(100).startswith(b"220")
    finally:
        serve.send_signal(signal.SIGINT)
        returncode = serve.wait(60)
    assert returncode == 0, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
    assert not _web_answers(web)
