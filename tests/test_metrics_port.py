"""Workers on other machines: each serves its own counters on a metrics port
(``postwerk worker --metrics-port``), and Prometheus adds the machines up
(docs/operations.md, "Metrics of several machines")."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main
from core.events import emit
from core.extensions import db
from core.metrics_port import MetricsPortError, serve
from core.models import Message, MessageStatus
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import TICKET
from tests.support.ports import free_port

POSTWERK = str(Path(sys.executable).with_name("postwerk"))


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _sent(text: str) -> float:
    found = re.search(r'^postwerk_deliveries_total\{outcome="sent"\} ([0-9.e+]+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def _wait(condition, what: str, processes, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in processes:
            assert proc.poll() is None, f"a worker exited while waiting for {what}: {proc.args}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _answers(port: int) -> bool:
    try:
        _scrape(port)
        return True
    except OSError:
        return False


def test_workers_on_two_machines_each_serve_their_counters_and_they_add_up(tenant, config, tmp_path):
    """Two workers as on two machines (each its own multiprocess folder, so
    neither sees the other's counters, as the web's /metrics would not):
    scraped apart, their deliveries add up to every mail sent."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POSTWERK_", "PROMETHEUS_"))}
    base.update(
        POSTWERK_DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        POSTWERK_REDIS_URL=config["REDIS_URL"],
        POSTWERK_QUEUE_PREFIX=config["QUEUE_PREFIX"],
        POSTWERK_SECRET_KEY="metrics-port-test",
        POSTWERK_ENCRYPTION_KEY=ENCRYPTION_KEY,
        # The test's SMTP sink is on loopback, which production settings refuse.
        POSTWERK_TARGET_ALLOWLIST="127.0.0.1",
    )
    ports, workers, logs = [free_port(), free_port()], [], []
    try:
        for machine, port in enumerate(ports):
            folder = tmp_path / f"machine{machine}"
            folder.mkdir()
            env = dict(base, PROMETHEUS_MULTIPROC_DIR=str(folder))
            log = open(tmp_path / f"worker{machine}.log", "w")
            logs.append(log)
            workers.append(
                subprocess.Popen(
                    [POSTWERK, "worker", "--name", f"machine{machine}", "--metrics-port", str(port)],
                    cwd=tmp_path,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait(lambda: all(_answers(p) for p in ports), "the metrics ports", workers)
        for _ in range(6):
            emit(tenant.slug, "TICKET_CREATED", TICKET)
        db.session.commit()

        def all_sent() -> bool:
            db.session.expire_all()
            statuses = db.session.execute(db.select(Message.status)).scalars().all()
            return len(statuses) == 6 and set(statuses) == {MessageStatus.SENT}

        _wait(all_sent, "six mails sent", workers)

        # A delivery job counts its deliveries and its run time when it ends
        # (after lingering for more mail): the counters catch up shortly after.
        def counted() -> bool:
            scraped = [_scrape(port) for port in ports]
            return sum(_sent(text) for text in scraped) >= 6 and any(
                'postwerk_job_seconds_count{job="deliver_messages"}' in text for text in scraped
            )

        _wait(counted, "the deliveries and the delivery job counted", workers)
        scraped = [_scrape(port) for port in ports]
        # What Prometheus adds up over the machines: every mail, once.
        assert sum(_sent(text) for text in scraped) == 6.0, scraped
        # Figures read from the database stay with the web's /metrics (counted once).
        assert all("postwerk_messages{" not in text for text in scraped)
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.wait(timeout=60)
        for log in logs:
            log.close()
    for machine in range(len(ports)):
        assert "Traceback" not in (tmp_path / f"worker{machine}.log").read_text()


def test_the_metrics_port_serves_this_process_without_multiprocess_mode(monkeypatch):
    from core.metrics import DELIVERIES

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    port = free_port()
    server = serve(port)
    try:
        before = _sent(_scrape(port))
        DELIVERIES.labels("sent").inc(2)
        assert _sent(_scrape(port)) == before + 2
    finally:
        server.shutdown()
        server.server_close()


def test_a_taken_or_bad_metrics_port_is_a_clear_error_at_start(config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            serve(port)
        env = {"POSTWERK_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"], "POSTWERK_REDIS_URL": config["REDIS_URL"]}
        result = CliRunner().invoke(main, ["worker", "--burst", "--metrics-port", str(port)], env=env)
        assert result.exit_code != 0 and f"cannot serve metrics on 127.0.0.1:{port}" in result.output
    result = CliRunner().invoke(main, ["worker", "--burst", "--metrics-port", "70000"], env=env)
    assert result.exit_code == 2 and "70000" in result.output
