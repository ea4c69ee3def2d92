"""Logging, configured once per process.

``configure()`` installs one handler on the root logger (text or JSON lines,
``POSTWERK_LOG_FORMAT``) at ``POSTWERK_LOG_LEVEL``. Every record carries the
process (its role and pid) and, where known, the tenant, the message or event
and the RQ job: ``bind()`` sets them for the code that runs next (a job, one
message) through context variables, so a line logged deep inside a library
call still names them.

Secrets are never logged (DESIGN invariant 5): the code never formats one into
a message, and as a second line of defence every line is scrubbed of the
configured keys and of every secret decrypted in this process
(``core.crypto.decrypt`` registers it with ``redact()``) before it is written. Libraries known to log credentials at DEBUG stay at INFO or above.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import threading
from datetime import datetime, timezone

FIELDS = ("tenant", "message_id", "event_id", "job")
# The default is never changed in place: bind() sets a copy.
_context: contextvars.ContextVar[dict] = contextvars.ContextVar("postwerk_log_context", default={})  # noqa: B039
_role = "postwerk"
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_handler: logging.Handler | None = None
# These log request headers, tokens or protocol lines at DEBUG.
QUIET_AT_DEBUG = ("urllib3", "msal", "imapclient", "requests_oauthlib", "oauthlib", "mail.log", "aiosmtpd")
# Alembic names each of its plugins at INFO when it is imported; it is
# imported on first use (core.extensions.DeferredMigrate), after logging is
# configured, and would otherwise print seven lines before every migration.
QUIET_BELOW_WARNING = ("alembic.runtime.plugins",)
# The mail catcher's SMTP server (aiosmtpd) says at INFO how every
# connection opens and closes, three lines a mail beside Postwerk's one:
# kept only when DEBUG is asked for.
CHATTY_AT_INFO = ("mail.log",)


def bind(**fields) -> contextvars.Token:
    """Name the tenant / message / event / job of what runs next in this
    context; returns a token for ``unbind``. ``None`` removes a field."""
    current = dict(_context.get())
    for key, value in fields.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    return _context.set(current)


def unbind(token: contextvars.Token) -> None:
    _context.reset(token)


class bound:
    """``with bound(event_id=7): ...``: ``bind`` for a block."""

    def __init__(self, **fields):
        self.fields = fields

    def __enter__(self):
        self.token = bind(**self.fields)

    def __exit__(self, *exc):
        unbind(self.token)


def redact(*values: str | None) -> None:
    """Never write these strings into a log line (a key, a password)."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= 6)


def scrub(text: str) -> str:
    for secret in tuple(_secrets):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


class ContextFilter(logging.Filter):
    """Adds ``role``, ``tenant``, ``message_id``, ``event_id``, ``job`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = _role
        context = _context.get()
        for field in FIELDS:
            if not hasattr(record, field):
                setattr(record, field, context.get(field))
        return True


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(role)s[%(process)d]%(where)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.where = "".join(f" {f}={getattr(record, f)}" for f in FIELDS if getattr(record, f, None) is not None)
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "process": getattr(record, "role", _role),
            "pid": record.process,
        }
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = scrub(record.exc_text)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(
    level: str | None = None, fmt: str | None = None, *, role: str | None = None, stream=None
) -> logging.Handler:
    """Configure the root logger once (later calls only update role, level
    and format). ``level``/``fmt`` default to the environment's
    ``POSTWERK_LOG_LEVEL`` / ``POSTWERK_LOG_FORMAT``."""
    global _handler, _role
    if role:
        _role = role
    level = (level or os.environ.get("POSTWERK_LOG_LEVEL") or "INFO").upper()
    fmt = (fmt or os.environ.get("POSTWERK_LOG_FORMAT") or "text").lower()
    check(level, fmt)
    root = logging.getLogger()
    if stream is not None and _handler is not None:
        reset()  # a new destination replaces the old handler
    if _handler is None:
        _handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        _handler.addFilter(ContextFilter())
        root.addHandler(_handler)
    _handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level)
    for name in QUIET_AT_DEBUG:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
    for name in QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(logging.WARNING)
    debug = logging.getLevelName(level) == logging.DEBUG
    for name in CHATTY_AT_INFO:
        logging.getLogger(name).setLevel(logging.INFO if debug else logging.WARNING)
    return _handler


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a test runner or
    click's CliRunner may swap it), never to a closed earlier one."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def check(level: str, fmt: str) -> None:
    """Raise ValueError for a level or format ``configure`` cannot use
    (``core.config`` turns it into its ConfigError: logging sits below the
    configuration and does not import it)."""
    if not isinstance(logging.getLevelName(level.upper()), int):
        raise ValueError(f"POSTWERK_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    if fmt.lower() not in ("text", "json"):
        raise ValueError(f"POSTWERK_LOG_FORMAT must be text or json, not {fmt!r}")


def reset() -> None:
    """Remove the handler ``configure`` installed (tests)."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
