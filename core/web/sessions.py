"""Log-in sessions kept on the server, and the throttle on failed log-ins.

Flask's session is a signed cookie: by itself, a cookie copied before
logout keeps working until it expires. So each log-in gets a random session
id, kept in Redis with the idle lifetime as its expiry; every request
renews it, logout deletes it, and a session older than the absolute
lifetime ends whatever the cookie says. Without Redis nobody stays logged
in (closed, not open).

Failed log-ins are counted per account (tenant + e-mail) and per client
address in Redis; past the limit the account (or client) is locked for the
lock-out time, even for the right password, and the tenant's admins get a
notice in the notification log once per lock-out.
"""
from __future__ import annotations

import logging
import secrets
import time
import urllib.parse

from flask import current_app, g, session
from redis.exceptions import RedisError
from werkzeug.security import check_password_hash, generate_password_hash

from ..queueing import redis

log = logging.getLogger(__name__)

SID = "_pw_sid"
STARTED = "_pw_started"
# Failures one client address may have in the lock-out time, over all accounts.
CLIENT_FAILURES = 20
_DUMMY_HASH: str | None = None


def _key(*parts: object) -> str:
    return ":".join([current_app.config["QUEUE_PREFIX"], *map(str, parts)])


# --- sessions --------------------------------------------------------------------

def start(user_id: int) -> None:
    """At log-in: a fresh session (new CSRF secret too) with a new server-side id."""
    session.clear()
    # Flask-WTF keeps the signed token of this request in g: forget it too.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    sid = secrets.token_urlsafe(32)
    session[SID], session[STARTED] = sid, int(time.time())
    session.permanent = True
    pipe = redis().pipeline()
    pipe.set(_key("websession", sid), str(user_id), ex=_idle())
    # The user's open sessions, so a password change can end all of them.
    mine = _key("usersessions", user_id)
    pipe.sadd(mine, sid)
    pipe.expire(mine, int(current_app.config["SESSION_MAX_HOURS"] * 3600) + 60)
    pipe.execute()


def end_all(user_id: int) -> int:
    """End every session of a user (a password change); raises RedisError
    when the store cannot be reached, so the caller can refuse the change
    rather than leave an old session open. Returns how many were open."""
    conn = redis()
    mine = _key("usersessions", user_id)
    sids = [s.decode() for s in conn.smembers(mine)]
    pipe = conn.pipeline()
    for sid in sids:
        pipe.delete(_key("websession", sid))
    pipe.delete(mine)
    results = pipe.execute()
    return sum(results[:-1])


def alive(user_id: str) -> bool:
    """Whether the cookie's session is still open on the server; renews it."""
    sid, started = session.get(SID), session.get(STARTED)
    if not sid or not isinstance(started, int):
        return False
    if time.time() - started > current_app.config["SESSION_MAX_HOURS"] * 3600:
        end()
        return False
    try:
        key = _key("websession", sid)
        owner = redis().get(key)
        if owner is None or owner.decode() != str(user_id):
            return False
        redis().expire(key, _idle())
    except RedisError as exc:
        log.warning("session not checked, treated as ended (Redis: %s)", exc)
        return False
    return True


def end() -> None:
    sid = session.get(SID)
    if sid:
        try:
            redis().delete(_key("websession", sid))
        except RedisError as exc:
            log.warning("session %s… not removed (Redis: %s)", sid[:6], exc)
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def _idle() -> int:
    return int(current_app.config["SESSION_IDLE_MINUTES"] * 60)


# --- failed log-ins ----------------------------------------------------------------

def locked(account: str, client: str) -> bool:
    limit = current_app.config["LOGIN_LOCKOUT_FAILURES"]
    try:
        counts = redis().mget(_key("login-fail", "account", account), _key("login-fail", "client", client))
    except RedisError as exc:
        log.warning("log-in throttle not checked (Redis: %s)", exc)
        return False
    account_count, client_count = (int(c or 0) for c in counts)
    return account_count >= limit or client_count >= max(4 * limit, CLIENT_FAILURES)


def failed(account: str, client: str) -> bool:
    """Count a failure; True when this one locked the account (notify once)."""
    window = int(current_app.config["LOGIN_LOCKOUT_MINUTES"] * 60)
    try:
        pipe = redis().pipeline()
        for key in (_key("login-fail", "account", account), _key("login-fail", "client", client)):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        account_count = pipe.execute()[0]
    except RedisError as exc:
        log.warning("failed log-in not counted (Redis: %s)", exc)
        return False
    return int(account_count) == current_app.config["LOGIN_LOCKOUT_FAILURES"]


def succeeded(account: str) -> None:
    try:
        redis().delete(_key("login-fail", "account", account))
    except RedisError:
        pass


def burn_password_check(password: str) -> None:
    """The same hashing work as a real password check, for an unknown tenant
    or user: the answer's timing does not tell which accounts exist."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
    check_password_hash(_DUMMY_HASH, password)


# --- next= ----------------------------------------------------------------------

def safe_next(target: str) -> str | None:
    """A same-site path, or None. Browsers drop tabs and newlines and read
    backslashes as slashes, so ``/%09/evil.example`` is ``//evil.example``."""
    if not target or any(ord(c) < 33 or c == "\\" or ord(c) == 127 for c in target):
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
