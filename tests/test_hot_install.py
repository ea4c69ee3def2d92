"""Installing a plugin with pip while `postwerk serve` runs takes effect
without a restart: serve notices the new entry point, migrates and reloads
the web server and the workers; the plugin's page answers and its event is
accepted and mailed. Uninstalling is noticed the same way."""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.support.plugin_wheel import plugin_wheel
from tests.support.ports import free_port


def _status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=2).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _until(what: str, check, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "--no-input", *args], check=True, timeout=300
    )


def test_a_plugin_installed_with_pip_while_serve_runs_takes_effect_without_a_restart(tmp_path):
    web, smtp, catcher = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTWERK_")}
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli",
                "serve",
                "--workers",
                "1",
                "--port",
                str(web),
                "--mail-catcher-port",
                str(smtp),
                "--mail-catcher-http-port",
                str(catcher),
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    installed = False
    try:
        _until("serve did not start", lambda: _status(f"http://127.0.0.1:{web}/login") == 200)
        assert _status(f"http://127.0.0.1:{web}/hot/") == 404
        _pip("install", "--no-deps", "--no-index", plugin_wheel(tmp_path))
        installed = True
        _until(
            "the running web app never served the new plugin's page",
            lambda: _status(f"http://127.0.0.1:{web}/hot/") == 200,
        )
        cli_env = dict(env, POSTWERK_ENV="development")
        run = subprocess.run(
            [sys.executable, "-m", "core.cli", "plugins", "enable", "demo", "hotplug", "--activate-rules"],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "its default rules switched on" in run.stdout
        with sqlite3.connect(tmp_path / "instance" / "postwerk.sqlite3") as conn:
            assert conn.execute("SELECT active FROM rule WHERE event = 'HOT_EVENT'").fetchall() == [(1,)]
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "core.cli",
                "events",
                "emit",
                "demo",
                "HOT_EVENT",
                "--payload",
                '{"hot": {"word": "sunny"}}',
            ],
            cwd=tmp_path,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        _until(
            "the running workers never mailed the new plugin's event",
            lambda: "Hot sunny" in urllib.request.urlopen(f"http://127.0.0.1:{catcher}/", timeout=2).read().decode(),
        )
        _pip("uninstall", "-y", "postwerk-hotplug")
        installed = False
        _until(
            "the running web app kept the uninstalled plugin's page",
            lambda: _status(f"http://127.0.0.1:{web}/hot/") == 404,
        )
    finally:
        if installed:
            _pip("uninstall", "-y", "postwerk-hotplug")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    output = (tmp_path / "serve.log").read_text()
    assert re.search(r"plugins changed \(installed: hotplug;", output), output
    assert re.search(r"plugins changed \(installed: -; removed: hotplug;", output), output


def test_a_newcomer_goes_from_plugins_new_to_a_delivered_mail_while_serve_runs(tmp_path):
    """The steps of docs/plugins.md, "Start from a working package", as
    written: the export line serve prints, `plugins new`, `pip install -e`,
    enable with its rules, emit -- the mail is in the catcher, no restart --
    and the package's own tests pass."""
    web, smtp, catcher = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTWERK_")}
    postwerk = [sys.executable, "-m", "core.cli"]
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [*postwerk, "serve", "--workers", "1", "--port", str(web)]
            + ["--mail-catcher-port", str(smtp), "--mail-catcher-http-port", str(catcher)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    installed = False

    def step(*args: str, cwd=tmp_path) -> str:
        run = subprocess.run(args, cwd=cwd, env=shell, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    try:
        _until("serve did not start", lambda: _status(f"http://127.0.0.1:{web}/login") == 200)
        exports = re.search(r"export (POSTWERK_ENV=\S+) (POSTWERK_REDIS_URL=\S+)", (tmp_path / "serve.log").read_text())
        assert exports, "serve printed no export line for other commands"
        shell = dict(env, **dict(pair.split("=", 1) for pair in exports.groups()))
        printed = step(*postwerk, "plugins", "new", "parking")
        pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "--no-input"]
        step(*pip, "install", "--no-deps", "--no-build-isolation", "-e", "postwerk-parking")
        installed = True
        _until(
            "serve never took up the new plugin's page",
            lambda: _status(f"http://127.0.0.1:{web}/settings/admin/parking/") in (200, 302),
        )
        # The two commands plugins new printed, with the demo tenant.
        enable, emit = (
            line.strip().replace("TENANT", "demo")
            for line in printed.splitlines()
            if line.strip().startswith(("postwerk plugins enable", "postwerk events emit"))
        )
        step(*postwerk, *shlex.split(enable)[1:])
        step(*postwerk, *shlex.split(emit)[1:])
        _until(
            "the running workers never mailed the new plugin's event",
            lambda: (
                "Neuer Eintrag: Erster Eintrag"
                in urllib.request.urlopen(f"http://127.0.0.1:{catcher}/", timeout=2).read().decode()
            ),
        )
        assert "4 passed" in step(
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path / "postwerk-parking"
        )
    finally:
        if installed:
            _pip("uninstall", "-y", "postwerk-parking")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    output = (tmp_path / "serve.log").read_text()
    assert re.search(r"plugins changed \(installed: parking;", output), output
    assert "Running upgrade  -> parking0001" in output
