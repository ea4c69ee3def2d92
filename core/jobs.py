"""Running RQ jobs inside a Flask application context.

RQ jobs are module-level functions taking primary keys (never ORM objects).
A worker started by ``postwerk worker`` pushes an app context per job; a job
run by a plain ``rq worker`` builds the app from the environment once per
process.
"""
from __future__ import annotations

import functools

from flask import Flask, has_app_context

_process_app: Flask | None = None


def process_app() -> Flask:
    global _process_app
    if _process_app is None:
        from .app import create_app

        _process_app = create_app()
    return _process_app


def in_app_context(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        with process_app().app_context():
            return func(*args, **kwargs)

    return wrapper
