"""Running RQ jobs inside a Flask application context.

RQ jobs are module-level functions taking primary keys (never ORM objects).
The worker that runs them (``core.worker.PostwerkWorker``: ``postwerk
worker`` or ``rq worker -w core.worker.PostwerkWorker``) pushes an app
context per job. A job run anywhere else without one (RQ's default worker
class, a script) stops with a clear error instead of building an app of its
own: building the app is the top layer's business (the worker, the CLI),
and the mail pipeline that defines the jobs sits below it.
"""

from __future__ import annotations

import functools

from flask import has_app_context


class NoAppContext(RuntimeError):
    """A Postwerk job was run outside an application context."""


def in_app_context(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if not has_app_context():
            raise NoAppContext(
                f"{func.__module__}.{func.__name__} needs a Postwerk app context: run it in Postwerk's worker "
                "(`postwerk worker`, or `rq worker -w core.worker.PostwerkWorker`), not RQ's default worker class"
            )
        return func(*args, **kwargs)

    return wrapper
