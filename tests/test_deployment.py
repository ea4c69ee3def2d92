"""The production process model, as docs/operations.md describes it: Postwerk
installed from a wheel, gunicorn serving ``postwerk:create_app()`` with two
workers, RQ's own ``rq worker -w core.worker.PostwerkWorker`` delivering, and
/metrics adding up the counters of every process (multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request

import pytest

from core.events import emit
from core.extensions import db
from core.models import Message, MessageStatus
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import TICKET
from tests.support.installed import installed_postwerk
from tests.support.ports import free_port


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _get(url)
            return
        except OSError:
            assert proc.poll() is None, "gunicorn exited"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def environment(config, tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTWERK_", "PROMETHEUS_"))}
    env.update(
        POSTWERK_DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        POSTWERK_REDIS_URL=config["REDIS_URL"],
        POSTWERK_QUEUE_PREFIX=config["QUEUE_PREFIX"],
        POSTWERK_SECRET_KEY="deployment-test",
        POSTWERK_ENCRYPTION_KEY=ENCRYPTION_KEY,
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
        # A production installation relaying to the test servers on loopback (docs/security.md).
        POSTWERK_TARGET_ALLOWLIST="127.0.0.1",
    )
    return env


def test_gunicorn_and_rq_worker_with_postwerks_worker_class(tenant, config, environment, tmp_path, tmp_path_factory):
    bin_dir = installed_postwerk(tmp_path_factory.getbasetemp())
    port = free_port()
    with open(tmp_path / "gunicorn.log", "w") as log:
        web = subprocess.Popen(
            [
                str(bin_dir / "python"),
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "--config",
                "python:core.gunicorn_config",
                "postwerk:create_app()",
            ],
            cwd=tmp_path,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", web)
        emit(tenant.slug, "TICKET_CREATED", TICKET)
        db.session.commit()
        # RQ's own command line, with Postwerk's worker class: the class builds
        # the application from the environment itself.
        worker = subprocess.run(
            [
                str(bin_dir / "python"),
                "-c",
                "from rq.cli import main; main()",
                "worker",
                "--burst",
                "-w",
                "core.worker.PostwerkWorker",
                "--url",
                config["REDIS_URL"],
                f"{config['QUEUE_PREFIX']}-mail",
            ],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stdout + worker.stderr
        db.session.expire_all()
        assert db.session.execute(db.select(Message.status)).scalars().all() == [MessageStatus.SENT]
        # Whichever gunicorn worker answers, /metrics has the RQ worker's counters.
        for _ in range(2):
            metrics = _get(f"http://127.0.0.1:{port}/metrics")
            assert 'postwerk_deliveries_total{outcome="sent"} 1.0' in metrics
            assert 'postwerk_job_seconds_count{job="deliver_messages"}' in metrics
            assert 'postwerk_messages{status="SENT",tenant="acme"} 1.0' in metrics
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
