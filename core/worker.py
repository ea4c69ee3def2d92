"""The RQ worker Postwerk runs.

A non-forking worker (RQ's SimpleWorker): the default forking worker costs a
fork per job and cannot share the SQLAlchemy pool across the fork. Jobs are
batches (all due mail of one tenant), so isolation per job buys little.
Each job runs in a fresh application context.
"""
from __future__ import annotations

import time

from flask import Flask
from rq import SimpleWorker

from . import logs, queueing
from .metrics import JOB_SECONDS


class PostwerkWorker(SimpleWorker):
    """``app`` defaults to the application built from the environment, so
    RQ's own command line works too: ``rq worker -w core.worker.PostwerkWorker``
    (with ``--url`` and the queue name, see docs/operations.md)."""

    def __init__(self, *args, app: Flask | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if app is None:
            from .jobs import process_app

            app = process_app()
        self.app = app

    def perform_job(self, job, queue):
        # Every line the job logs names its tenant and job; its run time goes
        # to the job duration histogram of /metrics.
        tenant = job.args[0] if job.args and isinstance(job.args[0], int) else None
        name = job.func_name.rsplit(".", 1)[-1]
        token = logs.bind(tenant=tenant, job=job.id)
        started = time.perf_counter()
        try:
            with self.app.app_context():
                return super().perform_job(job, queue)
        finally:
            JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
            logs.unbind(token)


def make_worker(app: Flask, *, name: str | None = None) -> PostwerkWorker:
    with app.app_context():
        q = queueing.queue()
        return PostwerkWorker([q], connection=q.connection, app=app, name=name)
