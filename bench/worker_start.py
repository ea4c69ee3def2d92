"""CPU time a worker spends before its first job: interpreter, imports
(the command line's included), ``create_app`` and the RQ worker object (what
``postwerk worker`` does before it listens). Median of ``--runs`` fresh
processes.

The children run with a bytecode cache (as an installed package has one,
whatever ``PYTHONDONTWRITEBYTECODE`` says in the caller's shell), in a
directory of the bench's own, after one uncounted run that fills it.

A second line measures the floor: a process importing only the libraries
any worker needs (Flask, Flask-SQLAlchemy with the ORM, redis, RQ), which no
lazy import in Postwerk can go below.

The last two lines measure whole commands against a private Redis with empty
queues: ``postwerk worker --burst`` (one worker: start, register, find no
job, stop) and ``postwerk worker --processes 2 --burst`` (a pool: the parent
loads Postwerk once and forks two workers), the CPU of the command and every
process it started (``RUSAGE_CHILDREN`` once it has exited), in total and per
worker. The pool's figure per worker is what issue 15 asks to keep under
TARGET_S.

    python -m bench.worker_start [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

from bench.common import median, redis_url

CHILD = """
import resource, sys
import core.cli
from core.app import create_app
from core.worker import make_worker
app = create_app()
make_worker(app, name="start-bench")
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime)
"""

FLOOR = """
import resource
import flask, flask_sqlalchemy, sqlalchemy.orm, redis, rq
u = resource.getrusage(resource.RUSAGE_SELF)
print(u.ru_utime + u.ru_stime)
"""

TARGET_S = 0.3


def _runs(code: str, env: dict[str, str], runs: int) -> list[float]:
    def one() -> float:
        done = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
        return float(done.stdout.split()[-1])

    one()  # fills the bytecode cache
    return [one() for _ in range(runs)]


def _command_runs(args: list[str], env: dict[str, str], runs: int) -> list[float]:
    """CPU seconds of ``python -m core.cli ARGS`` and everything it started."""

    def one() -> float:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "core.cli", *args], env=env, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    one()
    return [one() for _ in range(runs)]


def _line(label: str, seconds: list[float], extra: str = "") -> str:
    return f"{label}: median {median(seconds):.3f} s (min {min(seconds):.3f}, max {max(seconds):.3f}){extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from cryptography.fernet import Fernet

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "POSTWERK_DATABASE_URL": f"sqlite:///{tmp}/x.sqlite3",
            "POSTWERK_SECRET_KEY": "bench",
            "POSTWERK_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "PYTHONPYCACHEPREFIX": f"{tmp}/pycache",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        seconds = _runs(CHILD, env, args.runs)
        floor = _runs(FLOOR, env, args.runs)
        with redis_url() as redis:
            env.update(POSTWERK_REDIS_URL=redis, POSTWERK_QUEUE_PREFIX="bench-start")
            single = _command_runs(["worker", "--burst"], env, args.runs)
            pool = _command_runs(["worker", "--processes", "2", "--burst"], env, args.runs)
    load = os.getloadavg()[0]
    print(
        f"worker start, CPU before the first job: median {median(seconds):.3f} s "
        f"(min {min(seconds):.3f}, max {max(seconds):.3f}; {args.runs} runs, load {load:.2f}; target {TARGET_S} s)"
    )
    print(
        f"floor (flask, flask_sqlalchemy, sqlalchemy.orm, redis, rq alone): median {median(floor):.3f} s "
        f"(min {min(floor):.3f}, max {max(floor):.3f})"
    )
    print(_line("postwerk worker --burst, empty queues, whole command (1 worker)", single))
    pool_per_worker = [total / 2 for total in pool]
    print(_line("postwerk worker --processes 2 --burst, empty queues, whole command", pool))
    print(_line("  per worker (total / 2)", pool_per_worker, f"; target {TARGET_S} s"))
    print(
        json.dumps(
            {
                "worker_start_cpu_s": round(median(seconds), 3),
                "min_s": round(min(seconds), 3),
                "floor_cpu_s": round(median(floor), 3),
                "burst_worker_cpu_s": round(median(single), 3),
                "pool2_burst_cpu_s": round(median(pool), 3),
                "pool2_burst_per_worker_cpu_s": round(median(pool_per_worker), 3),
                "target_s": TARGET_S,
                "runs": args.runs,
                "load_average_1min": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
