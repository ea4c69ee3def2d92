"""Run one benchmark several times and print the median of its figures.

The targets in docs/benchmarks.md are medians of five runs, because one run
on a 2-core machine says little. This runs ``python -m bench.NAME ARGS`` the
given number of times, one after another, reads the JSON line each run ends
with, and prints each numeric figure's median and range, with the load
average before each run (a figure taken under load is not a release figure).

    python -m bench.series [--runs 5] NAME [ARGS ...]
    python -m bench.series --runs 5 delivery --mode steady --db postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.common import median


def last_json_line(output: str) -> dict:
    """The figures a bench prints last; a bench that printed none failed."""
    for line in reversed(output.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            return json.loads(line)
    raise SystemExit("the bench printed no JSON line:\n" + output[-2000:])


def run_once(name: str, args: list[str]) -> dict:
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-m", f"bench.{name}", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench.{name} exited {done.returncode}:\n{done.stderr[-2000:]}")
    figures = last_json_line(done.stdout)
    figures.setdefault("load_before_run", round(load, 2))
    return figures


def summary(runs: list[dict]) -> dict:
    """Median and range of every figure that is a number in every run."""
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    result = {}
    for key in keys:
        values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
        if len(values) == len(runs):
            result[key] = {"median": round(median(values), 3), "min": min(values), "max": max(values)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("name", help="the bench module under bench/, e.g. delivery")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    options = parser.parse_args()
    runs = []
    for n in range(options.runs):
        figures = run_once(options.name, options.args)
        runs.append(figures)
        ratio = figures.get("ratio", "")
        print(f"run {n + 1}: load {figures['load_before_run']}  ratio {ratio}", flush=True)
    result = summary(runs)
    for key, value in result.items():
        print(f"{key:32} median {value['median']:>10}   range {value['min']} – {value['max']}")
    print(json.dumps({"bench": options.name, "args": options.args, "runs": len(runs), "summary": result}))


if __name__ == "__main__":
    main()
