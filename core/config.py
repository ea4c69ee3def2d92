"""Configuration from the environment.

Every setting a deployment changes comes from a ``POSTWERK_*`` environment
variable; tests pass a mapping to ``create_app`` instead.
"""
from __future__ import annotations

import os
from pathlib import Path

# (environment variable, config key, default, description) -- the README's
# configuration table is checked against this list by a test.
SETTINGS: list[tuple[str, str, str | None, str]] = [
    ("POSTWERK_DATABASE_URL", "SQLALCHEMY_DATABASE_URI", None,
     "SQLAlchemy URL; default: SQLite file postwerk.sqlite3 in the instance folder"),
    ("POSTWERK_REDIS_URL", "REDIS_URL", "redis://127.0.0.1:6379/0",
     "Redis (or Valkey) used by the RQ queues"),
    ("POSTWERK_SECRET_KEY", "SECRET_KEY", None,
     "Flask session and CSRF signing key; required outside development"),
    ("POSTWERK_ENCRYPTION_KEY", "ENCRYPTION_KEYS", None,
     "Fernet key(s) for secrets at rest, comma-separated, newest first (rotation); required outside development"),
    ("POSTWERK_ENV", "POSTWERK_ENV", "production",
     "'development' allows generated throwaway keys; anything else demands real ones"),
    ("POSTWERK_QUEUE_PREFIX", "QUEUE_PREFIX", "postwerk",
     "prefix of the RQ queue names and Redis keys, so several installations can share one Redis"),
    ("POSTWERK_SMTP_TIMEOUT", "SMTP_TIMEOUT", "30",
     "socket timeout in seconds for SMTP; always shorter than the delivery job timeout"),
    ("POSTWERK_DELIVERY_JOB_TIMEOUT", "DELIVERY_JOB_TIMEOUT", "600",
     "seconds a delivery job may run; a claim's lease is this plus the clock skew (the last resort: a dead "
     "worker's claimed mail is taken back about 20 s after its last RQ heartbeat)"),
    ("POSTWERK_CLOCK_SKEW_SECONDS", "CLOCK_SKEW_SECONDS", "60",
     "largest clock difference between the machines running workers and the scheduler"),
    ("POSTWERK_RETRY_DELAYS", "RETRY_DELAYS", "5,30,300",
     "seconds to wait before each new attempt after a temporary SMTP error, comma-separated; after the last "
     "one the message is FAILED"),
    ("POSTWERK_DELIVERY_LANES", "DELIVERY_LANES", "4",
     "delivery jobs one tenant may run at once, each on its own SMTP connection (never more than the "
     "tenant's connection limit)"),
]


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
                "(generate one with `postwerk keys generate`)")
        keys = [_development_key(instance_path)]
    config["ENCRYPTION_KEYS"] = keys
    config["SMTP_TIMEOUT"] = _number(config, "SMTP_TIMEOUT", 30, float)
    config["DELIVERY_JOB_TIMEOUT"] = _number(config, "DELIVERY_JOB_TIMEOUT", 600, int)
    config["CLOCK_SKEW_SECONDS"] = _number(config, "CLOCK_SKEW_SECONDS", 60, int)
    config["DELIVERY_LANES"] = _number(config, "DELIVERY_LANES", 4, int)
    if config["DELIVERY_LANES"] < 1:
        raise ConfigError("POSTWERK_DELIVERY_LANES must be at least 1")
    config["RETRY_DELAYS"] = _delays(config.get("RETRY_DELAYS", "5,30,300"))
    if config["SMTP_TIMEOUT"] * 2 >= config["DELIVERY_JOB_TIMEOUT"]:
        raise ConfigError("POSTWERK_SMTP_TIMEOUT must be well below the delivery job timeout")
    return config


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
        raise ConfigError("POSTWERK_RETRY_DELAYS needs at least one delay, each from 1 second to a week, "
                          f"not {value!r}")
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
