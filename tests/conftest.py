"""Fixtures: real servers (Redis, PostgreSQL, SMTP) and a migrated database per test.

Servers start once per test session on free loopback ports. Each test gets
its own database (a copy of a migrated template), its own Redis key prefix
and a fresh application.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet

from core.app import create_app
from core.extensions import db
from tests.support import ServerUnavailable
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

ENCRYPTION_KEY = Fernet.generate_key().decode()
_counter = itertools.count()


def _unavailable(reason: str):
    # The test command installs every server; in CI a missing one is a failure.
    if os.environ.get("CI"):
        pytest.fail(f"server unavailable in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("servers")


def serving(server):
    """A test server for the lifetime of the fixture that yields from this.
    A program that is not installed skips the test (fails it in CI)."""
    try:
        server.start()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(servers_dir):
    yield from serving(RedisServer(servers_dir / "redis"))


@pytest.fixture(scope="session")
def postgres_server(servers_dir):
    yield from serving(PostgresServer(servers_dir / "postgres"))


@pytest.fixture
def pop_dovecot(tmp_path):
    """A Dovecot with one mailbox, box / boxpw: POP-before-SMTP and the
    incoming mailbox's login."""
    from tests.support.dovecot import DovecotServer

    yield from serving(DovecotServer(tmp_path / "dovecot", {"box": "boxpw"}))


def base_config(database_url: str, redis_url: str) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "QUEUE_PREFIX": f"pwtest{os.getpid()}-{next(_counter)}",
        "SECRET_KEY": "test-secret",
        "ENCRYPTION_KEYS": [ENCRYPTION_KEY],
        "SMTP_TIMEOUT": 5,
        "RETRY_DELAYS": (1, 1, 1),
    }


def migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(revision="heads")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory, redis_server) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    app = create_app(base_config(f"sqlite:///{path}", redis_server.url))
    migrate(app)
    with app.app_context():
        db.engine.dispose()  # closing the last connection folds the WAL into the file we copy
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server, redis_server) -> str:
    name = "postwerk_template"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = re.sub(r"/[^/]*$", f"/{name}", postgres_server.url)
    app = create_app(base_config(url, redis_server.url))
    migrate(app)
    with app.app_context():
        db.engine.dispose()  # a template database must have no connections
    return name


@pytest.fixture(params=["sqlite"])
def backend(request) -> str:
    """Override with ``@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)``."""
    return request.param


@pytest.fixture
def database_url(request, backend, tmp_path, redis_server) -> str:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "postwerk.sqlite3"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name = f"pwtest_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield re.sub(r"/[^/]*$", f"/{name}", server.url)
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def config(database_url, redis_server) -> dict:
    return base_config(database_url, redis_server.url)


@pytest.fixture
def app(config):
    app = create_app(config)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def tenant(ctx, smtp_sink):
    """Tenant 'acme' with an admin, the ticket plugin enabled, its default
    rule switched on, and SMTP pointing at the test sink (plain, loopback)."""
    from tests.helpers import make_tenant

    return make_tenant("acme", smtp_sink)


@pytest.fixture
def run_worker(app):
    """Run the mail queue until it is empty (a real RQ worker, burst mode)."""
    from tests.helpers import drain

    return lambda **kw: drain(app, **kw)


@pytest.fixture
def client(app):
    return app.test_client()
