"""Cost of one SQLite commit (WAL) with synchronous=NORMAL and FULL.

    python -m bench.sqlite_commit
"""
import sqlite3, time, sys, tempfile, os, statistics
def run(level, n=2000):
    d=tempfile.mkdtemp()
    c=sqlite3.connect(os.path.join(d,"x.db"), isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL"); c.execute(f"PRAGMA synchronous={level}")
    c.execute("create table t(id integer primary key, p text)")
    ts=[]
    for i in range(n):
        t=time.perf_counter(); c.execute("begin"); c.execute("insert into t(p) values (?)",("x"*300,)); c.execute("commit"); ts.append(time.perf_counter()-t)
    ts.sort(); return ts[len(ts)//2]*1000, ts[int(len(ts)*.95)]*1000
for lvl in ["NORMAL","FULL","NORMAL","FULL"]:
    print(lvl, "p50 %.3f ms p95 %.3f ms"%run(lvl))
