"""Cost of one SQLite commit in WAL mode with synchronous=NORMAL and FULL.

One 300-byte INSERT and its commit, ``--n`` times per level, alternating
NORMAL, FULL, NORMAL, FULL, on a file in the temporary directory (put it on
the disk the database will live on: TMPDIR=...).

    python -m bench.sqlite_commit [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import percentile


def commit_ms(level: str, n: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "commit.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={level}")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, p TEXT)")
        times = []
        for _ in range(n):
            started = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t (p) VALUES (?)", ("x" * 300,))
            conn.execute("COMMIT")
            times.append((time.perf_counter() - started) * 1000)
        conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"NORMAL": [], "FULL": []}
    for level in ("NORMAL", "FULL", "NORMAL", "FULL"):
        figures[level] += commit_ms(level, args.n)
    load = os.getloadavg()[0]
    result = {"load_average_1min": round(load, 2)}
    for level, times in figures.items():
        p50, p95 = percentile(times, 50), percentile(times, 95)
        print(f"synchronous={level:6s} commit p50 {p50:.3f} ms   p95 {p95:.3f} ms")
        result.update({f"{level.lower()}_p50_ms": round(p50, 3), f"{level.lower()}_p95_ms": round(p95, 3)})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
