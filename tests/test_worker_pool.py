"""``postwerk worker --processes N``: one parent loads Postwerk once and forks
N RQ workers (core.worker_pool). Real processes against the test's Redis,
database and SMTP sink: the pool delivers, its workers register under their
own names, a killed one is replaced, SIGTERM stops them all, ``--burst``
drains and exits, and a worker that cannot start stops the pool."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from redis import Redis
from rq import Worker

from core.events import emit
from core.extensions import db
from core.models import Message, MessageStatus
from tests.helpers import TICKET, process_env
from tests.support.ports import free_port

POSTWERK = str(Path(sys.executable).with_name("postwerk"))


def _env(config) -> dict[str, str]:
    # Jobs end when their work is done instead of waiting for more: a
    # worker killed while idle leaves no wake-up held by its job (that
    # one would wait for the sweeper, which this test does not run).
    return process_env(config, "pool-test", POSTWERK_LINGER_SECONDS="0")


def _wait(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None:
            assert proc.poll() is None, f"the pool exited ({proc.returncode}) while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _registered(redis: Redis, prefix: str) -> dict[str, int]:
    """The RQ workers named ``prefix-...``, name -> pid, that are not dead."""
    return {
        w.name: w.pid for w in Worker.all(connection=redis) if w.name.startswith(prefix + "-") and w.death_date is None
    }


def _states(redis: Redis, prefix: str) -> set[str]:
    return {w.get_state() for w in Worker.all(connection=redis) if w.name.startswith(prefix + "-")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (the test's own children are reaped by Popen).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _processes_named(token: str) -> list[int]:
    """Pids whose command line holds ``token``: the pool's parent and every
    process forked from it (workers, RQ's scheduler) share its command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if token.encode() in argv and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def _emit(tenant, count: int) -> None:
    for _ in range(count):
        emit(tenant.slug, "TICKET_CREATED", TICKET)
    db.session.commit()


def _sent(count: int):
    def check() -> bool:
        db.session.expire_all()
        statuses = db.session.execute(db.select(Message.status)).scalars().all()
        return len(statuses) == count and set(statuses) == {MessageStatus.SENT}

    return check


def test_a_pool_of_two_delivers_replaces_a_killed_worker_and_stops_on_sigterm(tenant, config, smtp_sink, tmp_path):
    name = f"pool{os.getpid()}"
    redis = Redis.from_url(config["REDIS_URL"])
    with open(tmp_path / "pool.log", "w") as log:
        proc = subprocess.Popen(
            [POSTWERK, "worker", "--processes", "2", "--name", name],
            cwd=tmp_path,
            env=_env(config),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Both workers register, each under its own name, in processes of their own.
        _wait(lambda: len(_registered(redis, name)) == 2, "two registered workers", proc)
        workers = _registered(redis, name)
        assert set(workers) == {f"{name}-1", f"{name}-2"}
        assert len(set(workers.values())) == 2 and proc.pid not in workers.values()

        _emit(tenant, 4)
        _wait(_sent(4), "four mails sent", proc)
        assert len(smtp_sink.messages) == 4

        # A worker killed outright is forked again, under a new name.
        _wait(lambda: _states(redis, name) == {"idle"}, "both workers idle", proc)
        killed = workers[f"{name}-1"]
        os.kill(killed, signal.SIGKILL)
        _wait(lambda: f"{name}-1.1" in _registered(redis, name), "the killed worker replaced", proc)
        replacement = _registered(redis, name)[f"{name}-1.1"]
        assert replacement not in (killed, workers[f"{name}-2"], proc.pid)
        assert not _alive(killed)

        # Mail still flows with the new worker.
        _emit(tenant, 3)
        _wait(_sent(7), "seven mails sent", proc)
        assert len(smtp_sink.messages) == 7

        # SIGTERM to the parent stops every worker; the parent exits 0 and leaves no process behind.
        pids = set(_processes_named(name))
        assert {proc.pid, replacement, workers[f"{name}-2"]} <= pids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        _wait(lambda: not _processes_named(name), "no process of the pool left", timeout=10)
        # Those stopped registered their end; the killed one could not (its
        # registration expires, as a lone worker's would).
        assert set(_registered(redis, name)) == {f"{name}-1"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _processes_named(name):
            os.kill(pid, signal.SIGKILL)
    output = (tmp_path / "pool.log").read_text()
    assert f"worker {name}-1 (pid {killed}) exited after" in output and "killed by SIGKILL" in output, output
    assert "Traceback" not in output, output


def test_a_burst_pool_drains_the_queues_and_exits_0(tenant, config, smtp_sink, tmp_path):
    _emit(tenant, 3)
    done = subprocess.run(
        [POSTWERK, "worker", "--processes", "2", "--burst", "--name", f"burst{os.getpid()}"],
        cwd=tmp_path,
        env=_env(config),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _sent(3)()
    assert len(smtp_sink.messages) == 3
    assert "Traceback" not in done.stderr, done.stderr


def test_a_pool_whose_workers_cannot_start_stops_with_status_1(config, tmp_path):
    """No Redis: every worker dies at once; after five quick exits in a row
    the pool gives up instead of forking for ever."""
    env = dict(_env(config), POSTWERK_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    done = subprocess.run(
        [POSTWERK, "worker", "--processes", "2", "--name", f"broken{os.getpid()}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "keeps exiting within 2 s of its start (5 times in a row): stopping the pool" in done.stderr
    # At most one restart a second per worker: five starts take four seconds at least.
    assert time.monotonic() - started >= 4


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def _sent_counter(text: str | None) -> float:
    found = re.search(r'^postwerk_deliveries_total\{outcome="sent"\} ([0-9.e+]+)$', text or "", re.M)
    return float(found.group(1)) if found else 0.0


def test_the_pools_metrics_port_adds_up_its_workers(tenant, config, smtp_sink, tmp_path):
    """The parent serves the port (multiprocess mode: every worker's counters)."""
    port, folder = free_port(), tmp_path / "metrics"
    folder.mkdir()
    env = dict(_env(config), PROMETHEUS_MULTIPROC_DIR=str(folder))
    args = [POSTWERK, "worker", "--processes", "2", "--name", f"metrics{os.getpid()}", "--metrics-port", str(port)]
    with open(tmp_path / "pool.log", "w") as log:
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _scrape(port) is not None, "the metrics port", proc)
        _emit(tenant, 6)
        _wait(_sent(6), "six mails sent", proc)
        _wait(lambda: _sent_counter(_scrape(port)) == 6.0, "six deliveries counted on the port", proc)
        # Counted by the workers (each in a file of its own pid), not by the parent serving them.
        counting = {int(path.stem.split("_")[1]) for path in folder.glob("counter_*.db")}
        assert counting and proc.pid not in counting
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Without multiprocess mode the parent's port would show none of the workers' counting: refused at start.
    env.pop("PROMETHEUS_MULTIPROC_DIR")
    refused = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert (
        refused.returncode != 0 and "--metrics-port with --processes needs PROMETHEUS_MULTIPROC_DIR" in refused.stderr
    )
