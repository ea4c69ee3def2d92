"""A plugin installed with pip while a bare worker (``postwerk worker``, and
RQ's own ``rq worker -w core.worker.PostwerkWorker``), the scheduler and gunicorn run takes
effect within seconds, without a restart: each notices the change, runs the
plugin's migration (once) and reloads gracefully -- the workers between jobs,
gunicorn by its HUP reload. Mail queued around the change is all delivered."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import select, update

from core.events import emit
from core.extensions import db
from core.models import Event, Message, MessageStatus, Rule
from tests.helpers import TICKET, process_env
from tests.support.plugin_wheel import plugin_wheel
from tests.support.ports import free_port

_SCRIPT = Path(sys.executable).parent / "postwerk"
POSTWERK = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "core.cli"]


def _status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=2).status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _until(what: str, check, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "--no-input", *args], check=True, timeout=300
    )


def _cli(env, *args: str) -> None:
    run = subprocess.run([*POSTWERK, *args], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_plugin_installed_while_a_bare_worker_and_gunicorn_run_takes_effect(tenant, config, smtp_sink, tmp_path):
    database = config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    env = process_env(config, "reload-test")
    port = free_port()
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("gunicorn", "worker", "rq", "scheduler")}
    procs = {
        "gunicorn": subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{port}",
                "--config",
                "python:core.gunicorn_config",
                "postwerk:create_app()",
            ],
            cwd=tmp_path,
            env=env,
            stdout=logs["gunicorn"],
            stderr=subprocess.STDOUT,
        ),
        "worker": subprocess.Popen(
            [*POSTWERK, "worker", "--name", f"reload-{os.getpid()}"],
            cwd=tmp_path,
            env=env,
            stdout=logs["worker"],
            stderr=subprocess.STDOUT,
        ),
        # RQ's own command line with Postwerk's worker class.
        "rq": subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from rq.cli import main; main()",
                "worker",
                "-w",
                "core.worker.PostwerkWorker",
                "--url",
                config["REDIS_URL"],
                f"{config['QUEUE_PREFIX']}-mail",
            ],
            cwd=tmp_path,
            env=env,
            stdout=logs["rq"],
            stderr=subprocess.STDOUT,
        ),
        "scheduler": subprocess.Popen(
            [*POSTWERK, "scheduler", "--interval", "1"],
            cwd=tmp_path,
            env=env,
            stdout=logs["scheduler"],
            stderr=subprocess.STDOUT,
        ),
    }
    pids = {name: proc.pid for name, proc in procs.items()}
    installed = False
    try:
        _until("gunicorn did not start", lambda: _status(f"http://127.0.0.1:{port}/healthz") == 200)
        assert _status(f"http://127.0.0.1:{port}/hot/") == 404
        # Mail in flight while the plugin arrives: none of it may be lost.
        for _ in range(30):
            emit(tenant.slug, "TICKET_CREATED", TICKET)
            db.session.commit()
        _pip("install", "--no-deps", "--no-index", plugin_wheel(tmp_path, with_migration=True))
        installed = True
        _until("gunicorn never served the new plugin's page", lambda: _status(f"http://127.0.0.1:{port}/hot/") == 200)
        for name in ("worker", "rq", "scheduler"):
            _until(
                f"the {name} process never reloaded",
                lambda name=name: "plugins changed (installed: hotplug;" in (tmp_path / f"{name}.log").read_text(),
            )
        # The plugin's own migration ran on the way, once for all four processes.
        assert (
            sum(
                "migrated the database for the changed plugins" in (tmp_path / f"{name}.log").read_text()
                for name in logs
            )
            == 1
        )
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'hotplug_note'").fetchone()
        _mail_the_new_plugins_event(env, tenant.slug, smtp_sink, "the reloaded workers")
        _until_all_sent(31)
        assert len(smtp_sink.messages) == 31
        assert {e.status for e in db.session.execute(select(Event)).scalars()} == {"EXPANDED"}
        # Reloaded in place: the same processes (a supervisor sees no exit).
        assert all(proc.poll() is None for proc in procs.values())
        assert {name: proc.pid for name, proc in procs.items()} == pids
        _pip("uninstall", "-y", "postwerk-hotplug")
        installed = False
        _until("gunicorn kept the uninstalled plugin's page", lambda: _status(f"http://127.0.0.1:{port}/hot/") == 404)
        for name in ("worker", "rq", "scheduler"):
            _until(
                f"the {name} process never noticed the removal",
                lambda name=name: (
                    "plugins changed (installed: -; removed: hotplug;" in (tmp_path / f"{name}.log").read_text()
                ),
            )
        # The removal migrated too: the plugin's revision is set aside, named,
        # and the database still upgrades.
        _until(
            "no process set the removed plugin's revision aside",
            lambda: any("plugin hotplug is not installed" in (tmp_path / f"{n}.log").read_text() for n in logs),
        )
        _cli(env, "db", "upgrade")
    finally:
        if installed:
            _pip("uninstall", "-y", "postwerk-hotplug")
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()
    output = {name: (tmp_path / f"{name}.log").read_text() for name in logs}
    assert "plugins changed (installed: hotplug;" in output["gunicorn"], output["gunicorn"]
    assert "Traceback" not in "".join(output.values()), output


def _workers(config, prefix: str) -> dict[str, int]:
    from redis import Redis
    from rq import Worker

    redis = Redis.from_url(config["REDIS_URL"])
    return {
        w.name: w.pid for w in Worker.all(connection=redis) if w.name.startswith(prefix + "-") and w.death_date is None
    }


def test_a_plugin_installed_while_a_worker_pool_runs_reloads_the_pool(tenant, config, smtp_sink, tmp_path):
    """``postwerk worker --processes 2``: the parent notices the plugin, stops
    its workers after their jobs, migrates and re-executes itself (same pid),
    forking new workers with the plugin loaded; no worker re-executes itself
    into a second pool."""
    database = config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    env = process_env(config, "reload-test")
    name = f"reloadpool-{os.getpid()}"
    log_path = tmp_path / "pool.log"
    with open(log_path, "w") as log:
        pool = subprocess.Popen(
            [*POSTWERK, "worker", "--processes", "2", "--name", name],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    installed = False
    try:
        _until("the pool's workers never registered", lambda: len(_workers(config, name)) == 2)
        before = set(_workers(config, name).values())
        for _ in range(10):
            emit(tenant.slug, "TICKET_CREATED", TICKET)
            db.session.commit()
        _pip("install", "--no-deps", "--no-index", plugin_wheel(tmp_path, with_migration=True))
        installed = True
        _until("the pool never reloaded", lambda: "plugins changed (installed: hotplug;" in log_path.read_text())
        _until(
            "the pool never migrated", lambda: "migrated the database for the changed plugins" in log_path.read_text()
        )
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'hotplug_note'").fetchone()
        # New workers, forked by the same parent, which re-executed itself.
        _until(
            "the reloaded pool's workers never registered",
            lambda: len(_workers(config, name)) == 2 and not set(_workers(config, name).values()) & before,
        )
        assert pool.poll() is None
        _mail_the_new_plugins_event(env, tenant.slug, smtp_sink, "the reloaded pool")
        _until_all_sent(11)
        _pip("uninstall", "-y", "postwerk-hotplug")
        installed = False
        _until(
            "the pool never noticed the removal",
            lambda: "plugins changed (installed: -; removed: hotplug;" in log_path.read_text(),
        )
        _until("the pool's workers never came back", lambda: len(_workers(config, name)) == 2)
        pool.terminate()
        assert pool.wait(timeout=60) == 0
    finally:
        if installed:
            _pip("uninstall", "-y", "postwerk-hotplug")
        if pool.poll() is None:
            pool.kill()
            pool.wait()
    output = log_path.read_text()
    # Only the parent watched: one notice per change, and no worker started a pool of its own.
    assert output.count("plugins changed (installed: hotplug;") == 1, output
    # Reloaded in place: every line of the pool's parent, before and after both reloads, has its pid.
    assert set(re.findall(r"worker\[(\d+)\] core\.worker_pool:", output)) == {str(pool.pid)}, output
    assert "Traceback" not in output, output


def _mail_the_new_plugins_event(env: dict, slug: str, smtp_sink, who: str) -> None:
    """Switch the installed plugin and its rule on and emit its event: the
    reloaded processes must mail it."""
    _cli(env, "plugins", "enable", slug, "hotplug")
    db.session.execute(update(Rule).where(Rule.event == "HOT_EVENT").values(active=True))
    db.session.commit()
    _cli(env, "events", "emit", slug, "HOT_EVENT", "--payload", '{"hot": {"word": "sunny"}}')
    _until(
        f"{who} never mailed the new plugin's event",
        lambda: any(m.message["Subject"] == "Hot sunny" for m in smtp_sink.messages),
    )


def _until_all_sent(count: int) -> None:
    def all_sent() -> bool:
        db.session.expire_all()
        statuses = db.session.execute(select(Message.status)).scalars().all()
        return len(statuses) == count and set(statuses) == {MessageStatus.SENT}

    _until("mail queued around the reload was lost", all_sent, timeout=60)
