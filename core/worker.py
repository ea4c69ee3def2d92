"""The RQ worker Postwerk runs.

A non-forking worker (RQ's SimpleWorker): the default forking worker costs a
fork per job and cannot share the SQLAlchemy pool across the fork. Jobs are
batches (all due mail of one tenant), so isolation per job buys little.
Each job runs in a fresh application context.
"""
from __future__ import annotations

from flask import Flask, g
from rq import SimpleWorker

from . import queueing


class PostwerkWorker(SimpleWorker):
    def __init__(self, *args, app: Flask, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app

    def work(self, *args, burst: bool = False, **kwargs):
        # A burst worker drains the queue and exits: its jobs never linger
        # for more work (core.mail.jobs.Linger).
        self.lingers = not burst
        return super().work(*args, burst=burst, **kwargs)

    def request_stop(self, signum, frame):
        self.lingers = False  # a warm shutdown does not wait for a lingering job
        return super().request_stop(signum, frame)

    def perform_job(self, job, queue):
        with self.app.app_context():
            g.postwerk_worker = self
            return super().perform_job(job, queue)


def make_worker(app: Flask, *, name: str | None = None) -> PostwerkWorker:
    with app.app_context():
        q = queueing.queue()
        return PostwerkWorker([q], connection=q.connection, app=app, name=name)
