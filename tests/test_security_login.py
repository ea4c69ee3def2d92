"""Log-in, sessions and redirects (issue 16, item 8)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import werkzeug.security
from flask import g

from core.app import create_app
from core.extensions import db
from core.models import Notification, WebSession
from core.models.types import utcnow
from core.web import sessions
from tests.helpers import ADMIN_PASSWORD, csrf_token, login
from tests.support.ports import free_port


def _try(client, password, *, email="admin@acme.example", slug="acme", address="203.0.113.5", next_=None):
    environ = {"REMOTE_ADDR": address}
    page = client.get("/login", environ_base=environ).get_data(as_text=True)
    url = "/login" + (f"?next={next_}" if next_ is not None else "")
    return client.post(
        url,
        data={"csrf_token": csrf_token(page), "tenant": slug, "email": email, "password": password},
        environ_base=environ,
    )


def test_wrong_passwords_lock_the_account_with_a_notice_to_the_admin(app, tenant, client):
    app.config["LOGIN_LOCKOUT_FAILURES"] = 3
    for _ in range(3):
        assert _try(client, "wrong").status_code == 200
    # Locked: even the right password is refused now, from another client as well.
    locked = _try(client, ADMIN_PASSWORD, address="198.51.100.7")
    assert locked.status_code == 429 and "Too many failed log-ins" in locked.get_data(as_text=True)
    (notice,) = db.session.execute(db.select(Notification).where(Notification.tenant_id == tenant.id)).scalars()
    assert notice.level == "warning" and "admin@acme.example" in notice.text and "locked" in notice.text
    # Another account of the same tenant is not locked.
    assert _try(client, "wrong", email="other@acme.example").status_code == 200


def test_one_client_trying_many_accounts_is_locked(app, tenant, client):
    app.config["LOGIN_LOCKOUT_FAILURES"] = 2
    for i in range(20):
        _try(client, "wrong", email=f"user{i}@acme.example")
    assert _try(client, ADMIN_PASSWORD).status_code == 429
    assert _try(client, ADMIN_PASSWORD, address="198.51.100.8").status_code == 302


def test_an_unknown_account_costs_the_same_password_hashing(tenant, client, monkeypatch):
    calls = []
    real = werkzeug.security.check_password_hash

    def counting(pwhash, password):
        calls.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr("core.models.tenant.check_password_hash", counting)
    monkeypatch.setattr("core.web.sessions.check_password_hash", counting)
    _try(client, "wrong")
    _try(client, "wrong", email="nobody@acme.example")
    _try(client, "wrong", slug="no-such-tenant")
    assert len(calls) == 3 and len(set(calls)) == 1  # one hash of the same method each time


def test_login_rotates_the_session_and_the_csrf_secret(tenant, client):
    page = client.get("/login").get_data(as_text=True)
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"
        csrf_before = before.get("csrf_token")
    assert csrf_before
    client.post(
        "/login",
        data={
            "csrf_token": csrf_token(page),
            "tenant": "acme",
            "email": "admin@acme.example",
            "password": ADMIN_PASSWORD,
        },
    )
    client.get("/")
    with client.session_transaction() as after:
        assert "planted" not in after and after.get("csrf_token") != csrf_before


def test_a_cookie_captured_before_logout_no_longer_works(tenant, client, app):
    login(client)
    assert client.get("/settings/admin/mail/settings").status_code == 200
    captured = client.get_cookie("session").value
    page = client.get("/settings/admin/mail/settings").get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert out.status_code == 302, out.get_data(as_text=True)[:500]
    g.pop("_login_user", None)  # the tests' app context outlives requests: forget its cached user
    thief = app.test_client()
    thief.set_cookie("session", captured)
    response = thief.get("/settings/admin/mail/settings")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _row(client) -> WebSession:
    with client.session_transaction() as s:
        sid = s[sessions.SID]
    db.session.expire_all()
    return db.session.get(WebSession, hashlib.sha256(sid.encode()).hexdigest())


def test_idle_and_absolute_lifetimes_end_the_session(tenant, client, app):
    login(client)
    row = _row(client)
    row.started_at -= timedelta(hours=app.config["SESSION_MAX_HOURS"], seconds=1)
    db.session.commit()
    g.pop("_login_user", None)
    assert client.get("/settings/admin/mail/settings").status_code == 302
    assert _row(client) is None  # ended on the server, not only refused

    login(client)
    row = _row(client)
    row.last_seen_at -= timedelta(minutes=app.config["SESSION_IDLE_MINUTES"], seconds=1)
    db.session.commit()
    g.pop("_login_user", None)
    assert client.get("/settings/admin/mail/settings").status_code == 302

    # A request renews the session (at most once a minute: no write per page view).
    login(client)
    row = _row(client)
    row.last_seen_at -= timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] - 1)
    db.session.commit()
    g.pop("_login_user", None)
    assert client.get("/settings/admin/mail/settings").status_code == 200
    assert utcnow() - _row(client).last_seen_at < timedelta(seconds=30)


def test_sign_in_and_the_admin_work_while_redis_is_down(tenant, config, app):
    """Redis really unreachable: the app points at a port nobody listens on."""
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown

    down = create_app({**config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    with down.app_context():
        with pytest.raises(RedisDown):
            Redis.from_url(down.config["REDIS_URL"], socket_connect_timeout=1).ping()
        browser = down.test_client()
        page = browser.get("/login").get_data(as_text=True)
        response = browser.post(
            "/login",
            data={
                "csrf_token": csrf_token(page),
                "tenant": "acme",
                "email": "admin@acme.example",
                "password": ADMIN_PASSWORD,
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        for url in ("/", "/settings/admin/mail/settings", "/settings/admin/mail/rules", "/settings/admin/mail/queue"):
            assert browser.get(url).status_code == 200, url
        # Logout still ends the session on the server.
        captured = browser.get_cookie("session").value
        page = browser.get("/settings/admin/mail/settings").get_data(as_text=True)
        assert browser.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
        g.pop("_login_user", None)
        thief = down.test_client()
        thief.set_cookie("session", captured)
        assert thief.get("/settings/admin/mail/settings").status_code == 302
        db.session.remove()
    with down.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.example/x",
        "//evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/%0a/evil.example",
        "javascript:alert(1)",
    ],
)
def test_next_accepts_same_site_paths_only(tenant, client, target):
    response = _try(client, ADMIN_PASSWORD, next_=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_next_keeps_a_same_site_path(tenant, client):
    response = _try(client, ADMIN_PASSWORD, next_="/settings/admin/mail/settings?x=1")
    assert response.headers["Location"] == "/settings/admin/mail/settings?x=1"
