"""Fixtures for the inbound mail plugin: one real Dovecot per session, a
fresh mail user per test, and a recording plugin that makes real tickets."""

from __future__ import annotations

import itertools

import pytest

from core.app import create_app
from core.extensions import db
from tests.conftest import _unavailable, serving
from tests.support import ServerUnavailable
from tests.support.dovecot import DovecotServer

from .support import USERS, RecordingPlugin


_next_user = itertools.count()


@pytest.fixture(scope="session")
def dovecot(servers_dir):
    yield from serving(DovecotServer(servers_dir / "dovecot", USERS))


@pytest.fixture
def mail_user(dovecot) -> str:
    """A Dovecot user whose mailbox no other test has touched."""
    return f"user{next(_next_user)}"


@pytest.fixture
def other_user(dovecot) -> str:
    return f"user{next(_next_user)}"


@pytest.fixture
def recorder() -> RecordingPlugin:
    return RecordingPlugin()


@pytest.fixture
def app(config, recorder):
    app = create_app(config, extra_plugins={"inbound_test": recorder})
    yield app
    with app.app_context():
        db.engine.dispose()
    # Handled mail makes tickets, whose events wake the queue through Redis:
    # close that connection here, not in a garbage collector's warning.
    redis = app.extensions.get("postwerk.redis")
    if redis is not None:
        redis.connection_pool.disconnect()


@pytest.fixture
def acme(ctx):
    from tests.helpers import make_tenant

    return make_tenant("acme", plugins=("ticket", "inbound_mail", "inbound_test"))


@pytest.fixture(scope="session")
def oauth_dovecot(servers_dir):
    """Dovecot accepting XOAUTH2 tokens ``valid-USER`` (see tests/inbound/oauth.py)."""
    from .oauth import Introspection, OAuthDovecot

    introspection = Introspection().start()
    server = OAuthDovecot(servers_dir / "dovecot-oauth", {"exchange": "unused-password"}, introspection.url)
    try:
        server.start()
    except ServerUnavailable as exc:
        introspection.stop()
        _unavailable(str(exc))
    server.introspection = introspection
    yield server
    server.stop()
    introspection.stop()
