"""Postwerk's public import name, for plugin authors and operators.

``from postwerk import hookimpl, EventSpec, Plugin, emit`` gives exactly the
objects of :mod:`core.api` (which keeps working): the repository keeps its
``core/`` and ``plugins/`` layout, and this name is the one to write in a
third-party plugin. ``postwerk.create_app`` is the application factory for
a WSGI server: ``gunicorn 'postwerk:create_app()'``.
"""

from __future__ import annotations

from core.api import *  # noqa: F401,F403  (the public face, re-exported as is)
from core.api import __all__ as _api
from core.app import create_app

__all__ = [*_api, "create_app"]
