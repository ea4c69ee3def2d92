"""The newcomer's path: `postwerk serve`, log in, create a ticket, see the mail.

Runs the real command as a process tree (embedded Valkey, web, worker,
scheduler, mail catcher) on free loopback ports and stops it with Ctrl-C --
from a wheel (not the editable checkout), in a working folder that has a
``core/`` package of its own, as an operator's project may.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import time
import urllib.parse
import urllib.request

from tests.support.installed import decoy_core, installed_postwerk
from tests.support.ports import free_port


def _token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_serve_runs_everything_and_a_ticket_mail_arrives_in_the_catcher(tmp_path, tmp_path_factory):
    postwerk = installed_postwerk(tmp_path_factory.getbasetemp()) / "postwerk"
    web, smtp, catcher = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTWERK_")}
    with open(tmp_path / "serve.log", "w") as log:
        proc = subprocess.Popen(
            [
                str(postwerk),
                "serve",
                "--port",
                str(web),
                "--mail-catcher-port",
                str(smtp),
                "--mail-catcher-http-port",
                str(catcher),
            ],
            cwd=decoy_core(tmp_path),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(f"http://127.0.0.1:{web}/login")
        _wait_for(f"http://127.0.0.1:{catcher}/")
        password = re.search(r"password (\S+)", (tmp_path / "serve.log").read_text()).group(1)
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{web}"
        page = browser.open(base + "/login").read().decode()
        browser.open(
            base + "/login",
            urllib.parse.urlencode(
                {
                    "csrf_token": _token(page),
                    "tenant": "demo",
                    "email": "admin@demo.postwerk.test",
                    "password": password,
                }
            ).encode(),
        )
        page = browser.open(base + "/tickets/").read().decode()
        assert "Report a ticket" in page
        browser.open(
            base + "/tickets/",
            urllib.parse.urlencode(
                {
                    "csrf_token": _token(page),
                    "title": "Wasserhahn tropft",
                    "description": "Küche",
                    "reporter_name": "Max Mieter",
                    "reporter_email": "max@example.org",
                    "reporter_language": "de",
                }
            ).encode(),
        )
        deadline = time.monotonic() + 30
        while "Wasserhahn tropft" not in (
            caught := urllib.request.urlopen(f"http://127.0.0.1:{catcher}/").read().decode()
        ):
            assert time.monotonic() < deadline, "the ticket mail did not reach the mail catcher"
            time.sleep(0.2)
        assert "max@example.org" in caught
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    output = (tmp_path / "serve.log").read_text()
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    # Every child is gone with the parent: nothing still listens.
    for port in (web, smtp, catcher):
        with __import__("socket").socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after Ctrl-C"
