"""Configuration from the environment.

Every setting a deployment changes comes from a ``POSTWERK_*`` environment
variable; tests pass a mapping to ``create_app`` instead.
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from pathlib import Path

from . import logs

# (environment variable, config key, default, description) -- the README's
# configuration table is checked against this list by a test.
SETTINGS: list[tuple[str, str, str | None, str]] = [
    (
        "POSTWERK_DATABASE_URL",
        "SQLALCHEMY_DATABASE_URI",
        None,
        "SQLAlchemy URL; default: SQLite file postwerk.sqlite3 in the instance folder",
    ),
    ("POSTWERK_REDIS_URL", "REDIS_URL", "redis://127.0.0.1:6379/0", "Redis (or Valkey) used by the RQ queues"),
    ("POSTWERK_SECRET_KEY", "SECRET_KEY", None, "Flask session and CSRF signing key; required outside development"),
    (
        "POSTWERK_ENCRYPTION_KEY",
        "ENCRYPTION_KEYS",
        None,
        "Fernet key(s) for secrets at rest, comma-separated, newest first (rotation); required outside development",
    ),
    (
        "POSTWERK_ENV",
        "POSTWERK_ENV",
        "production",
        "'development' allows generated throwaway keys; anything else demands real ones",
    ),
    (
        "POSTWERK_QUEUE_PREFIX",
        "QUEUE_PREFIX",
        "postwerk",
        "prefix of the RQ queue names and Redis keys, so several installations can share one Redis",
    ),
    (
        "POSTWERK_SMTP_TIMEOUT",
        "SMTP_TIMEOUT",
        "30",
        "socket timeout in seconds for SMTP; always shorter than the delivery job timeout",
    ),
    (
        "POSTWERK_DELIVERY_JOB_TIMEOUT",
        "DELIVERY_JOB_TIMEOUT",
        "600",
        "seconds a delivery job may run; a claim's lease is this plus the clock skew (the last resort: a dead "
        "worker's claimed mail is taken back about 20 s after its last RQ heartbeat)",
    ),
    (
        "POSTWERK_NETWORK_DEADLINE",
        "NETWORK_DEADLINE",
        None,
        "overall seconds for one step of a network conversation (SMTP login or one message, a mailbox poll, an "
        "OAuth token call), however slowly the server answers; default 120 or a quarter of the delivery job "
        "timeout if that is less; must be less than half of it",
    ),
    (
        "POSTWERK_CLOCK_SKEW_SECONDS",
        "CLOCK_SKEW_SECONDS",
        "60",
        "largest clock difference between the machines running workers and the scheduler",
    ),
    (
        "POSTWERK_RETRY_DELAYS",
        "RETRY_DELAYS",
        "5,30,300",
        "seconds to wait before each new attempt after a temporary SMTP error, comma-separated; after the last "
        "one the message is FAILED",
    ),
    (
        "POSTWERK_DELIVERY_LANES",
        "DELIVERY_LANES",
        "4",
        "delivery jobs one tenant may run at once, each on its own SMTP connection (never more than the "
        "tenant's connection limit)",
    ),
    (
        "POSTWERK_STRICT_PLUGINS",
        "STRICT_PLUGINS",
        "0",
        "1: a broken plugin stops start-up (for tests and plugin CI); 0: it is set aside, marked broken, and "
        "everything else starts",
    ),
    (
        "POSTWERK_PLUGIN_RELOAD",
        "PLUGIN_RELOAD",
        "1",
        "1: a long-running worker and gunicorn's master take up a plugin installed, upgraded or removed "
        "meanwhile within seconds (migrate, then reload gracefully); 0: only a restart does",
    ),
    (
        "POSTWERK_MAX_CONTENT_LENGTH",
        "MAX_CONTENT_LENGTH",
        "4194304",
        "largest request body in bytes the web application reads (forms, uploads); larger ones get 413",
    ),
    (
        "POSTWERK_MAX_ATTACHMENT_BYTES",
        "MAX_ATTACHMENT_BYTES",
        "10485760",
        "bytes all attachments of one outgoing mail may have together (at most 20 files); more is refused where "
        "it enters (413 in the HTTP API)",
    ),
    (
        "POSTWERK_MAX_RECIPIENTS_PER_EVENT",
        "MAX_RECIPIENTS_PER_EVENT",
        "500",
        "messages one event may make; an event over it fails with that reason and makes none",
    ),
    ("POSTWERK_API_RATE_LIMIT", "API_RATE_LIMIT", "300", "requests per minute one API token may make; more get 429"),
    (
        "POSTWERK_SESSION_IDLE_MINUTES",
        "SESSION_IDLE_MINUTES",
        "60",
        "a log-in session ends after this many minutes without a request",
    ),
    (
        "POSTWERK_SESSION_MAX_HOURS",
        "SESSION_MAX_HOURS",
        "12",
        "a log-in session ends this many hours after the log-in, active or not",
    ),
    (
        "POSTWERK_LOGIN_LOCKOUT_FAILURES",
        "LOGIN_LOCKOUT_FAILURES",
        "5",
        "wrong passwords for one account that lock it (per client address: 4 times as many, at least 20)",
    ),
    (
        "POSTWERK_LOGIN_LOCKOUT_MINUTES",
        "LOGIN_LOCKOUT_MINUTES",
        "15",
        "how long failed log-ins are counted and a lock-out lasts",
    ),
    (
        "POSTWERK_PRIVATE_TARGETS",
        "PRIVATE_TARGETS",
        None,
        "'refuse' (the default outside development): tenants' SMTP, mailbox and OAuth servers may not be private "
        "or loopback addresses; 'allow' (the default with POSTWERK_ENV=development, in tests and in `postwerk "
        "serve`) lets them. Link-local and cloud metadata addresses are always refused",
    ),
    (
        "POSTWERK_TARGET_ALLOWLIST",
        "TARGET_ALLOWLIST",
        "",
        "comma-separated addresses, networks (CIDR) or host names always allowed as servers: an on-premises "
        "relay (e.g. 127.0.0.1 for a Postfix on the same machine) or mail server on the private network",
    ),
    (
        "POSTWERK_LINGER_SECONDS",
        "LINGER_SECONDS",
        "0.5",
        "how long an expansion or delivery job that ran out of work waits for more (keeping its SMTP connection) "
        "before it ends; 0 ends at once",
    ),
    (
        "POSTWERK_SQLITE_SYNCHRONOUS",
        "SQLITE_SYNCHRONOUS",
        "FULL",
        "SQLite's synchronous level in WAL mode: FULL (default) survives an OS crash or power loss with every "
        "commit; NORMAL is faster but may lose the last commits then",
    ),
    (
        "POSTWERK_LOG_LEVEL",
        "LOG_LEVEL",
        "INFO",
        "DEBUG, INFO, WARNING or ERROR; libraries that log credentials at DEBUG stay at INFO",
    ),
    (
        "POSTWERK_LOG_FORMAT",
        "LOG_FORMAT",
        "text",
        "text (one line with time, level, process, tenant, message/event) or json (one object per line)",
    ),
    (
        "POSTWERK_PROXY_HOPS",
        "PROXY_HOPS",
        "0",
        "reverse proxies in front of the web process whose X-Forwarded-For/-Proto/-Host/-Port are trusted "
        "(Werkzeug's ProxyFix); 0 when clients connect directly",
    ),
    (
        "POSTWERK_URL_SCHEME",
        "PREFERRED_URL_SCHEME",
        None,
        "scheme of links built outside a request (mails, OAuth redirect URIs); default https, http in development",
    ),
    (
        "POSTWERK_PUBLIC_URL",
        "PUBLIC_URL",
        None,
        "the web application's address as recipients reach it (https://mail.example.com), for links that workers "
        "put into mail (List-Unsubscribe); default http://localhost:5000 in development; bulk mail fails without it",
    ),
    (
        "POSTWERK_HSTS_SECONDS",
        "HSTS_SECONDS",
        None,
        "max-age of the Strict-Transport-Security header on HTTPS responses; default one year, 0 (off) in development",
    ),
    (
        "POSTWERK_METRICS_TOKEN",
        "METRICS_TOKEN",
        None,
        "bearer token that /metrics demands (Authorization: Bearer ...); unset: only the allowed addresses",
    ),
    (
        "POSTWERK_METRICS_ALLOW",
        "METRICS_ALLOW",
        "127.0.0.1/32,::1/128",
        "client addresses or networks (comma-separated) allowed to read /metrics without the token",
    ),
    (
        "POSTWERK_SYSTEM_SMTP_URL",
        "SYSTEM_SMTP_URL",
        None,
        "installation-wide fallback server for system mail (sign-in codes, password resets) of a tenant whose own "
        "SMTP is missing or broken, e.g. smtp://user:pass@host:587?security=starttls (security: none, starttls, "
        "starttls_optional, ssl)",
    ),
    (
        "POSTWERK_SYSTEM_MAIL_FROM",
        "SYSTEM_MAIL_FROM",
        None,
        "sender address of system mail for a tenant that has no sender address of its own",
    ),
    (
        "POSTWERK_TRUSTED_AUTHSERV_ID",
        "TRUSTED_AUTHSERV_ID",
        "",
        "inbound mail: the authserv-id of the receiving server whose Authentication-Results header is believed, "
        "for tenants that set none; empty: none",
    ),
    (
        "POSTWERK_TRUST_UNAUTHENTICATED_MAIL",
        "TICKET_TRUST_UNAUTHENTICATED_MAIL",
        "0",
        "inbound mail: 1 lets unauthenticated mail speak for its From address, for tenants that did not choose; "
        "0 marks such mail comments 'sender not verified'",
    ),
]

SMTP_URL_SECURITY = ("none", "starttls", "starttls_optional", "ssl")
SMTP_URL_PORTS = {"none": 25, "starttls": 587, "starttls_optional": 587, "ssl": 465}


# OFF is not offered: it loses commits even when only the process dies badly.
SQLITE_SYNCHRONOUS_LEVELS = ("FULL", "EXTRA", "NORMAL")


class ConfigError(RuntimeError):
    """A setting is missing or wrong; raised at start-up, never later."""


def from_environment(environ: os._Environ | dict | None = None) -> dict:
    environ = os.environ if environ is None else environ
    config: dict = {}
    for var, key, default, _ in SETTINGS:
        value = environ.get(var, default)
        if value is not None:
            config[key] = value
    return config


def finalise(config: dict, instance_path: str) -> dict:
    """Fill derived defaults and refuse unsafe combinations."""
    development = config.get("POSTWERK_ENV") == "development" or config.get("TESTING")
    if not config.get("SQLALCHEMY_DATABASE_URI"):
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(instance_path) / "postwerk.sqlite3")
    if not config.get("SECRET_KEY"):
        if not development:
            raise ConfigError("POSTWERK_SECRET_KEY is not set (set POSTWERK_ENV=development for a throwaway key)")
        config["SECRET_KEY"] = os.urandom(32).hex()
    keys = config.get("ENCRYPTION_KEYS")
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    if not keys:
        if not development:
            raise ConfigError(
                "POSTWERK_ENCRYPTION_KEY is not set: secrets at rest cannot be encrypted "
                "(generate one with `postwerk keys generate`)"
            )
        keys = [_development_key(instance_path)]
    config["ENCRYPTION_KEYS"] = keys
    config["SMTP_TIMEOUT"] = _number(config, "SMTP_TIMEOUT", 30, float)
    config["DELIVERY_JOB_TIMEOUT"] = _number(config, "DELIVERY_JOB_TIMEOUT", 600, int)
    config["NETWORK_DEADLINE"] = _number(
        config, "NETWORK_DEADLINE", min(120.0, config["DELIVERY_JOB_TIMEOUT"] / 4), float
    )
    config["CLOCK_SKEW_SECONDS"] = _number(config, "CLOCK_SKEW_SECONDS", 60, int)
    config["DELIVERY_LANES"] = _number(config, "DELIVERY_LANES", 4, int)
    config["STRICT_PLUGINS"] = str(config.get("STRICT_PLUGINS", "0")).strip().lower() in ("1", "true", "yes", "on")
    config["PLUGIN_RELOAD"] = str(config.get("PLUGIN_RELOAD", "1")).strip().lower() in ("1", "true", "yes", "on")
    if config["DELIVERY_LANES"] < 1:
        raise ConfigError("POSTWERK_DELIVERY_LANES must be at least 1")
    config["RETRY_DELAYS"] = _delays(config.get("RETRY_DELAYS", "5,30,300"))
    config["MAX_CONTENT_LENGTH"] = _number(config, "MAX_CONTENT_LENGTH", 4194304, int)
    config["MAX_ATTACHMENT_BYTES"] = _number(config, "MAX_ATTACHMENT_BYTES", 10485760, int)
    config["MAX_RECIPIENTS_PER_EVENT"] = _number(config, "MAX_RECIPIENTS_PER_EVENT", 500, int)
    config["API_RATE_LIMIT"] = _number(config, "API_RATE_LIMIT", 300, int)
    config["SESSION_IDLE_MINUTES"] = _number(config, "SESSION_IDLE_MINUTES", 60, float)
    config["SESSION_MAX_HOURS"] = _number(config, "SESSION_MAX_HOURS", 12, float)
    config["LOGIN_LOCKOUT_FAILURES"] = _number(config, "LOGIN_LOCKOUT_FAILURES", 5, int)
    config["LOGIN_LOCKOUT_MINUTES"] = _number(config, "LOGIN_LOCKOUT_MINUTES", 15, float)
    # The session cookie: never read by scripts, not sent on cross-site
    # requests, and over HTTPS only outside development and tests.
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    config.setdefault("SESSION_COOKIE_SECURE", not development)
    config.setdefault("PERMANENT_SESSION_LIFETIME", int(config["SESSION_MAX_HOURS"] * 3600))
    # Flask's own caps on form parsing, stated here so they are not forgotten.
    config.setdefault("MAX_FORM_PARTS", 1000)
    config.setdefault("MAX_FORM_MEMORY_SIZE", 500_000)
    # A hosted installation must not let a tenant admin point Postwerk at
    # the private network; a developer's machine and the demo relay locally.
    if not config.get("PRIVATE_TARGETS"):
        config["PRIVATE_TARGETS"] = "allow" if development else "refuse"
    if config["PRIVATE_TARGETS"] not in ("allow", "refuse"):
        raise ConfigError("POSTWERK_PRIVATE_TARGETS must be 'allow' or 'refuse'")
    config["TARGET_ALLOWLIST"] = _allowlist(config.get("TARGET_ALLOWLIST", ""))
    config["LINGER_SECONDS"] = _number(config, "LINGER_SECONDS", 0.5, float)
    config["SYSTEM_SMTP"] = system_smtp(config.get("SYSTEM_SMTP_URL"))
    if not 0 <= config["LINGER_SECONDS"] <= 60:
        raise ConfigError("POSTWERK_LINGER_SECONDS must be between 0 and 60")
    config["SQLITE_SYNCHRONOUS"] = str(config.get("SQLITE_SYNCHRONOUS") or "FULL").upper()
    if config["SQLITE_SYNCHRONOUS"] not in SQLITE_SYNCHRONOUS_LEVELS:
        raise ConfigError("POSTWERK_SQLITE_SYNCHRONOUS must be one of " + ", ".join(SQLITE_SYNCHRONOUS_LEVELS))
    if config["SMTP_TIMEOUT"] * 2 >= config["DELIVERY_JOB_TIMEOUT"]:
        raise ConfigError("POSTWERK_SMTP_TIMEOUT must be well below the delivery job timeout")
    if not 0 < config["NETWORK_DEADLINE"] * 2 < config["DELIVERY_JOB_TIMEOUT"]:
        raise ConfigError("POSTWERK_NETWORK_DEADLINE must be positive and less than half the delivery job timeout")
    config["LOG_LEVEL"] = str(config.get("LOG_LEVEL", "INFO")).upper()
    config["LOG_FORMAT"] = str(config.get("LOG_FORMAT", "text")).lower()
    try:
        logs.check(config["LOG_LEVEL"], config["LOG_FORMAT"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    config["PROXY_HOPS"] = _number(config, "PROXY_HOPS", 0, int)
    if config["PROXY_HOPS"] < 0:
        raise ConfigError("POSTWERK_PROXY_HOPS must be 0 or more")
    config.setdefault("PREFERRED_URL_SCHEME", "http" if development else "https")
    if config["PREFERRED_URL_SCHEME"] not in ("http", "https"):
        raise ConfigError("POSTWERK_URL_SCHEME must be http or https")
    if development:
        config.setdefault("PUBLIC_URL", "http://localhost:5000")
    public = (config.get("PUBLIC_URL") or "").strip().rstrip("/")
    if public and not (public.startswith(("http://", "https://")) and "://" in public and public.split("://", 1)[1]):
        raise ConfigError("POSTWERK_PUBLIC_URL must be an http:// or https:// address, e.g. https://mail.example.com")
    config["PUBLIC_URL"] = public or None
    config["HSTS_SECONDS"] = _number(config, "HSTS_SECONDS", 0 if development else 31536000, int)
    allow = config.get("METRICS_ALLOW", "127.0.0.1/32,::1/128")
    if isinstance(allow, str):
        allow = [a.strip() for a in allow.split(",") if a.strip()]
    try:
        config["METRICS_ALLOW"] = [ipaddress.ip_network(a, strict=False) for a in allow]
    except ValueError as exc:
        raise ConfigError(f"POSTWERK_METRICS_ALLOW: {exc}") from None
    return config


def _allowlist(value) -> tuple[str, ...]:
    import ipaddress

    entries = tuple(e.strip() for e in (value.split(",") if isinstance(value, str) else value or ()) if e.strip())
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if any(c.isspace() or c in "/@:" for c in entry):
                raise ConfigError(
                    f"POSTWERK_TARGET_ALLOWLIST: {entry!r} is neither a network nor a host name"
                ) from None
    return entries


def _number(config: dict, key: str, default, kind):
    """A numeric setting, or a start-up error naming its variable."""
    value = config.get(key, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        var = next(v for v, k, _, _ in SETTINGS if k == key)
        raise ConfigError(f"{var} must be a number, not {value!r}") from None


def _delays(value) -> tuple[int, ...]:
    """POSTWERK_RETRY_DELAYS: whole seconds, comma-separated, each at least 1
    and at most a week; at least one (a list or tuple is taken as it is)."""
    parts = [p.strip() for p in value.split(",")] if isinstance(value, str) else list(value)
    try:
        delays = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise ConfigError(f"POSTWERK_RETRY_DELAYS must be whole seconds separated by commas, not {value!r}") from None
    if not delays or any(not 1 <= d <= 7 * 24 * 3600 for d in delays):
        raise ConfigError(
            f"POSTWERK_RETRY_DELAYS needs at least one delay, each from 1 second to a week, not {value!r}"
        )
    return delays


def _development_key(instance_path: str) -> str:
    """A development key kept in the instance folder, so restarts can still
    decrypt what an earlier run stored. Never used outside development."""
    from cryptography.fernet import Fernet

    path = Path(instance_path) / "development-encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


def system_smtp(url: str | None) -> dict | None:
    """POSTWERK_SYSTEM_SMTP_URL as host, port, security, username, password;
    None when unset. A wrong URL stops start-up with the reason."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError("POSTWERK_SYSTEM_SMTP_URL must start with smtp:// or smtps://")
    query = urllib.parse.parse_qs(parts.query)
    security = query.get("security", ["ssl" if parts.scheme == "smtps" else "starttls"])[-1]
    if security not in SMTP_URL_SECURITY:
        raise ConfigError(f"POSTWERK_SYSTEM_SMTP_URL: security must be one of {', '.join(SMTP_URL_SECURITY)}")
    try:
        port = parts.port or SMTP_URL_PORTS[security]
    except ValueError:
        raise ConfigError("POSTWERK_SYSTEM_SMTP_URL: the port is not a number") from None
    if not parts.hostname:
        raise ConfigError("POSTWERK_SYSTEM_SMTP_URL names no host")
    return {
        "host": parts.hostname,
        "port": port,
        "security": security,
        "username": urllib.parse.unquote(parts.username or ""),
        "password": urllib.parse.unquote(parts.password or ""),
    }
