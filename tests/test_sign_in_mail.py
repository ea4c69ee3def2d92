"""Sign-in by mail (issue 13): password reset, sign-in codes, system mail
through the fallback server, the priority queues of RQ."""

from __future__ import annotations

import re
import time

import pytest
from flask import g

from core import account_secrets
from core.config import ConfigError, system_smtp
from core.extensions import db
from core.models import AccountSecret, AuditEntry, MailSettings, Message, MessageStatus, Tenant, User
from core.models.message import Priority
from core.queueing import PRIORITY_KINDS, queue, queue_name
from core.worker import make_worker
from tests.helpers import ADMIN_PASSWORD, csrf_token, login
from tests.support.smtp_sink import SmtpSink
from tests.test_http_api import TICKET

EMAIL = "admin@acme.example"
NEW_PASSWORD = "a new and long password"
BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def _get(client, path, **kwargs):
    # The tests' app context is shared by all requests: Flask-WTF keeps the
    # signed CSRF token of the last request in g (another client's page would
    # carry a token of the wrong session), Flask-Login the last user.
    g.pop("csrf_token", None)
    g.pop("_login_user", None)
    return client.get(path, **kwargs)


def _page(client, path, **kwargs) -> str:
    return _get(client, path, **kwargs).get_data(as_text=True)


def _forgot(client, email=EMAIL, slug="acme", address="203.0.113.9"):
    environ = {"REMOTE_ADDR": address}
    page = _page(client, "/forgot-password", environ_base=environ)
    return client.post(
        "/forgot-password", data={"csrf_token": csrf_token(page), "tenant": slug, "email": email}, environ_base=environ
    )


def _link(mail) -> str:
    text = mail.message.get_body(("plain",)).get_content()
    return re.search(r"http://localhost(/reset-password/\S+)", text).group(1)


def _actions(tenant_id) -> list[str]:
    db.session.expire_all()
    return [
        a.action
        for a in db.session.execute(
            db.select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.id)
        ).scalars()
    ]


def _set_password(client, path, password=NEW_PASSWORD):
    page = _page(client, path)
    return client.post(path, data={"csrf_token": csrf_token(page), "password": password, "confirm": password})


# --- password reset ----------------------------------------------------------------


@BACKENDS
def test_reset_mails_a_single_use_link_and_ends_every_session(app, tenant, smtp_sink, run_worker):
    app.config["RESET_ANSWER_SECONDS"] = 0
    logged_in = app.test_client()
    login(logged_in)
    assert _get(logged_in, "/settings/admin/mail/").status_code == 200

    answer = _forgot(app.test_client())
    assert answer.status_code == 200 and 'id="reset-sent"' in answer.get_data(as_text=True)
    (message,) = db.session.execute(db.select(Message)).scalars().all()
    assert message.priority == Priority.SYSTEM and message.template_key == "system_password_reset"
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [EMAIL]
    # From the tenant's system address, in the tenant's language (German).
    assert mail.mail_from == f"noreply@tenant{tenant.id}.example"
    assert "Neues Passwort" in str(mail.message["Subject"])
    path = _link(mail)
    token = path.rsplit("/", 1)[1]
    # Only the token's hash is stored.
    (secret,) = db.session.execute(db.select(AccountSecret)).scalars().all()
    assert secret.secret_hash == account_secrets.digest(token) and token not in secret.secret_hash

    client = app.test_client()
    done = _set_password(client, path)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    # The old session is over, the old password too; the link is used up.
    assert _get(logged_in, "/settings/admin/mail/").status_code == 302
    db.session.expire_all()
    user = db.session.execute(db.select(User).where(User.email == EMAIL)).scalar_one()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(ADMIN_PASSWORD)
    assert _get(client, path).status_code == 404
    login(app.test_client(), password=NEW_PASSWORD)
    assert {"auth.reset_requested", "auth.password_reset"} <= set(_actions(tenant.id))


def test_an_expired_or_replaced_link_does_not_work(app, tenant, client):
    app.config["RESET_ANSWER_SECONDS"] = 0
    _forgot(client)
    _forgot(client)
    first, second = db.session.execute(db.select(AccountSecret).order_by(AccountSecret.id)).scalars().all()
    assert first.used_at is not None  # a newer link retires the older one
    # A link can only be found through its token, which exists only in the mail.
    texts = [m.body_text for m in db.session.execute(db.select(Message).order_by(Message.id)).scalars()]
    old_path, new_path = (re.search(r"http://localhost(/reset-password/\S+)", t).group(1) for t in texts)
    assert _get(client, old_path).status_code == 404
    db.session.execute(
        db.update(AccountSecret).where(AccountSecret.id == second.id).values(expires_at=second.created_at)
    )
    db.session.commit()
    assert _get(client, new_path).status_code == 404
    assert _get(client, "/reset-password/made-up-token").status_code == 404


def test_the_answer_is_the_same_with_or_without_an_account(app, tenant):
    app.config["RESET_ANSWER_SECONDS"] = 1.0
    _forgot(app.test_client(), email="warm-up@acme.example")  # templates compiled, connections open
    answers, times = [], []
    for email, slug in ((EMAIL, "acme"), ("nobody@acme.example", "acme"), (EMAIL, "no-such-tenant")):
        client = app.test_client()
        page = _page(client, "/forgot-password")
        started = time.monotonic()
        response = client.post(
            "/forgot-password", data={"csrf_token": csrf_token(page), "tenant": slug, "email": email}
        )
        times.append(time.monotonic() - started)
        body = re.sub(r'value="[^"]+"', "", response.get_data(as_text=True))
        answers.append((response.status_code, body))
    assert answers[0] == answers[1] == answers[2]
    assert min(times) >= 1.0 and max(times) - min(times) < 0.3, times
    # Only the real account got a mail.
    assert db.session.execute(db.select(db.func.count()).select_from(Message)).scalar() == 1


def test_resets_are_rate_limited_per_address_and_per_client(app, tenant):
    app.config["RESET_ANSWER_SECONDS"] = 0
    for i in range(5):  # from five different clients: the account's limit is 3 an hour
        assert _forgot(app.test_client(), address=f"198.51.100.{i}").status_code == 200
    assert db.session.execute(db.select(db.func.count()).select_from(Message)).scalar() == 3
    assert "auth.reset_throttled" in _actions(tenant.id)
    client = app.test_client()
    codes = [_forgot(client, email=f"u{i}@acme.example", address="192.0.2.1").status_code for i in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429


def test_a_short_or_mismatched_password_is_refused_where_it_is_entered(app, tenant, client):
    app.config["RESET_ANSWER_SECONDS"] = 0
    _forgot(client)
    (message,) = db.session.execute(db.select(Message)).scalars().all()
    path = re.search(r"http://localhost(/reset-password/\S+)", message.body_text).group(1)
    short = _set_password(client, path, "short")
    assert short.status_code == 400 and "At least 10 characters" in short.get_data(as_text=True)
    page = _page(client, path)
    mismatch = client.post(
        path, data={"csrf_token": csrf_token(page), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"}
    )
    assert mismatch.status_code == 400 and "The two passwords differ" in mismatch.get_data(as_text=True)
    assert _get(client, path).status_code == 200  # the link is still good


# --- system mail through the fallback server --------------------------------------------


@BACKENDS
def test_system_mail_of_a_broken_tenant_goes_through_the_fallback_server(app, tenant, smtp_sink, run_worker):
    app.config["RESET_ANSWER_SECONDS"] = 0
    settings = db.session.get(MailSettings, tenant.id)
    settings.broken_reason = "535 authentication failed"
    db.session.commit()
    from core.api import emit
    from tests.test_http_api import TICKET

    emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    _forgot(app.test_client())
    with SmtpSink(auth={"relay": "s3cret"}) as fallback:
        app.config["SYSTEM_SMTP"] = system_smtp(f"smtp://relay:s3cret@127.0.0.1:{fallback.port}?security=none")
        run_worker()
        (mail,) = fallback.wait_for(1)
        assert mail.rcpt_tos == [EMAIL] and mail.login == "relay"
        assert mail.mail_from == f"noreply@tenant{tenant.id}.example"
    assert smtp_sink.messages == []
    db.session.expire_all()
    statuses = {m.priority: m.status for m in db.session.execute(db.select(Message)).scalars()}
    # The ticket mail waits for the tenant's own server to be fixed.
    assert statuses == {Priority.SYSTEM: MessageStatus.SENT, Priority.TRANSACTIONAL: MessageStatus.PENDING}


def test_without_a_fallback_system_mail_of_a_broken_tenant_waits(app, tenant, smtp_sink, run_worker):
    app.config["RESET_ANSWER_SECONDS"] = 0
    db.session.get(MailSettings, tenant.id).broken_reason = "535 authentication failed"
    db.session.commit()
    _forgot(app.test_client())
    run_worker()
    db.session.expire_all()
    (message,) = db.session.execute(db.select(Message)).scalars().all()
    assert message.status == MessageStatus.PENDING and smtp_sink.messages == []


@BACKENDS
def test_a_paused_automate_holds_other_mail_but_not_system_mail(app, tenant, smtp_sink, run_worker):
    from core.automate.models import AutomateState

    app.config["RESET_ANSWER_SECONDS"] = 0
    from core.api import emit
    from tests.test_http_api import TICKET

    db.session.merge(AutomateState(tenant_id=tenant.id, paused=True))
    db.session.commit()
    emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    run_worker()
    _forgot(app.test_client())
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == [EMAIL]
    time.sleep(0.5)
    assert len(smtp_sink.messages) == 1  # the ticket mail is held by the pause


@pytest.mark.parametrize(
    "url, error",
    [
        ("http://host", "must start with smtp://"),
        ("smtp://host?security=tls", "security must be one of"),
        ("smtp://:587", "names no host"),
    ],
)
def test_a_bad_fallback_url_stops_start_up(config, url, error):
    from core.app import create_app

    with pytest.raises(ConfigError, match=error):
        create_app(dict(config, SYSTEM_SMTP_URL=url))


def test_the_fallback_url_is_read_with_defaults():
    assert system_smtp("smtps://u%40x:p%2Fw@mail.example") == {
        "host": "mail.example",
        "port": 465,
        "security": "ssl",
        "username": "u@x",
        "password": "p/w",
    }
    assert system_smtp("smtp://mail.example")["port"] == 587
    assert system_smtp(None) is None


# --- sign-in codes ---------------------------------------------------------------------


def _policy(tenant_id, policy):
    db.session.get(Tenant, tenant_id).sign_in_codes = policy
    db.session.commit()


def _password_step(client, address="203.0.113.20"):
    environ = {"REMOTE_ADDR": address}
    page = _page(client, "/login", environ_base=environ)
    return client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "tenant": "acme", "email": EMAIL, "password": ADMIN_PASSWORD},
        environ_base=environ,
    )


def _send_code(client, code, remember=False, address="203.0.113.20"):
    environ = {"REMOTE_ADDR": address}
    page = _page(client, "/login/code", environ_base=environ)
    data = {"csrf_token": csrf_token(page), "code": code}
    if remember:
        data["remember"] = "y"
    return client.post("/login/code", data=data, environ_base=environ)


def _mailed_code(smtp_sink, n=1) -> str:
    mail = smtp_sink.wait_for(n)[-1]
    return re.search(r"\b(\d{6})\b", mail.message.get_body(("plain",)).get_content()).group(1)


@BACKENDS
def test_a_required_code_is_mailed_and_opens_the_admin_once(app, tenant, smtp_sink, run_worker):
    _policy(tenant.id, "everyone")
    client = app.test_client()
    step = _password_step(client)
    assert step.status_code == 302 and step.headers["Location"].endswith("/login/code")
    assert _get(client, "/settings/admin/mail/").status_code == 302  # not logged in by the password alone
    (message,) = db.session.execute(db.select(Message)).scalars().all()
    assert message.priority == Priority.SYSTEM
    run_worker()
    code = _mailed_code(smtp_sink)
    assert "Anmeldecode" in str(smtp_sink.messages[0].message["Subject"])
    wrong = "000000" if code != "000000" else "111111"
    assert "Wrong code" in _send_code(client, wrong).get_data(as_text=True)
    assert _send_code(client, code).status_code == 302
    assert _get(client, "/settings/admin/mail/").status_code == 200
    # Single use: the code is spent, and a second browser (which gets a code of its own) cannot use it.
    user = db.session.execute(db.select(User).where(User.email == EMAIL)).scalar_one()
    assert account_secrets.check_code(user, code) == account_secrets.CodeResult.DEAD
    other = app.test_client()
    _password_step(other)
    assert "Wrong code" in _send_code(other, code).get_data(as_text=True)
    assert _get(other, "/settings/admin/mail/").status_code == 302
    actions = _actions(tenant.id)
    assert {
        "auth.password_ok_code_needed",
        "auth.sign_in_code_sent",
        "auth.sign_in_code_wrong",
        "auth.sign_in_code_ok",
    } <= set(actions)


def test_five_wrong_tries_kill_the_code(app, tenant, smtp_sink, run_worker):
    _policy(tenant.id, "everyone")
    app.config["LOGIN_LOCKOUT_FAILURES"] = 50
    client = app.test_client()
    _password_step(client)
    run_worker()
    code = _mailed_code(smtp_sink)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert _send_code(client, wrong).status_code == 200
    dead = _send_code(client, code)
    assert dead.status_code == 302 and dead.headers["Location"].endswith("/login")
    assert _get(client, "/settings/admin/mail/").status_code == 302


def test_an_expired_code_does_not_work(app, tenant, smtp_sink, run_worker):
    _policy(tenant.id, "everyone")
    client = app.test_client()
    _password_step(client)
    run_worker()
    code = _mailed_code(smtp_sink)
    db.session.execute(
        db.update(AccountSecret).values(expires_at=db.func.coalesce(AccountSecret.created_at, AccountSecret.created_at))
    )
    db.session.commit()
    assert _send_code(client, code).headers["Location"].endswith("/login")


def test_remember_this_browser_skips_the_code_until_the_password_changes(app, tenant, smtp_sink, run_worker):
    _policy(tenant.id, "admins")
    client = app.test_client()
    _password_step(client)
    run_worker()
    response = _send_code(client, _mailed_code(smtp_sink), remember=True)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("postwerk_remember_"))
    assert "HttpOnly" in cookie and "Max-Age=2592000" in cookie
    client.post("/logout", data={"csrf_token": csrf_token(_page(client, "/"))})
    again = _password_step(client)
    assert again.status_code == 302 and not again.headers["Location"].endswith("/login/code")
    # A forged or foreign cookie does not count.
    stranger = app.test_client()
    stranger.set_cookie("postwerk_remember_1", "forged")
    assert _password_step(stranger).headers["Location"].endswith("/login/code")
    # A new password ends every remembered browser.
    user = db.session.execute(db.select(User).where(User.email == EMAIL)).scalar_one()
    user.set_password(ADMIN_PASSWORD)
    db.session.commit()
    client.post("/logout", data={"csrf_token": csrf_token(_page(client, "/"))})
    assert _password_step(client).headers["Location"].endswith("/login/code")


def test_recovery_codes_work_once_instead_of_the_mail(app, tenant, smtp_sink):
    _policy(tenant.id, "everyone")
    client = app.test_client()
    _password_step(client)
    user = db.session.execute(db.select(User).where(User.email == EMAIL)).scalar_one()
    codes = account_secrets.issue_recovery_codes(user)
    db.session.commit()
    assert _send_code(client, codes[0]).status_code == 302
    assert _get(client, "/settings/admin/mail/").status_code == 200
    other = app.test_client()
    _password_step(other)
    assert "Wrong code" in _send_code(other, codes[0]).get_data(as_text=True)
    assert {"auth.recovery_code_used", "auth.recovery_codes_left"} <= set(_actions(tenant.id))


def test_the_policy_and_the_own_choice(app, tenant, smtp_sink):
    client = app.test_client()
    login(client)
    page = _page(client, "/account/sign-in")
    assert (
        client.post(
            "/account/sign-in", data={"csrf_token": csrf_token(page), "action": "policy", "policy": "optional"}
        ).status_code
        == 200
    )
    assert db.session.get(Tenant, tenant.id).sign_in_codes == "optional"
    page = _page(client, "/account/sign-in")
    client.post("/account/sign-in", data={"csrf_token": csrf_token(page), "action": "own", "codes": "y"})
    db.session.expire_all()
    assert db.session.execute(db.select(User.sign_in_codes).where(User.email == EMAIL)).scalar_one() is True
    page = _page(client, "/account/sign-in")
    made = client.post("/account/sign-in", data={"csrf_token": csrf_token(page), "action": "recovery"})
    assert len(re.findall(r"<li><code>[0-9a-f]{8}-[0-9a-f]{8}</code></li>", made.get_data(as_text=True))) == 10
    page = _page(client, "/account/sign-in")
    bad = client.post(
        "/account/sign-in", data={"csrf_token": csrf_token(page), "action": "policy", "policy": "sometimes"}
    )
    assert bad.status_code == 400
    assert {"auth.sign_in_code_policy", "auth.sign_in_codes_chosen", "auth.recovery_codes_created"} <= set(
        _actions(tenant.id)
    )
    # A user who is not an admin may not change the tenant's policy.
    other = User(tenant_id=tenant.id, email="clerk@acme.example", name="Clerk", is_admin=False)
    other.set_password(ADMIN_PASSWORD)
    db.session.add(other)
    db.session.commit()
    clerk = app.test_client()
    g.pop("csrf_token", None)
    login(clerk, email="clerk@acme.example")
    page = _page(clerk, "/account/sign-in")
    assert (
        clerk.post(
            "/account/sign-in", data={"csrf_token": csrf_token(page), "action": "policy", "policy": "off"}
        ).status_code
        == 403
    )


# --- RQ queues per priority ------------------------------------------------------------------


def test_workers_take_system_jobs_before_other_waiting_jobs(app, tenant, smtp_sink):
    from core.mail.jobs import wake_deliverer

    with app.app_context():
        worker = make_worker(app)
        assert [q.name for q in worker.queues] == [queue_name(PRIORITY_KINDS[p]) for p in (2, 1, 0)]
        assert wake_deliverer(tenant.id, priority=Priority.BULK)
        assert wake_deliverer(tenant.id)
        assert wake_deliverer(tenant.id, priority=Priority.SYSTEM)
        # A waiting transactional job does not swallow the system wake.
        assert not wake_deliverer(tenant.id, priority=Priority.SYSTEM)
        order = []
        worker.execute_job = lambda job, q: order.append(q.name) or q.remove(job)  # record, do not run
        worker.work(burst=True, with_scheduler=False)
    assert order == [queue_name("mail-system"), queue_name("mail"), queue_name("mail-bulk")]


def test_a_job_sending_other_mail_gives_its_worker_to_a_waiting_system_job(app, tenant, smtp_sink, monkeypatch):
    from types import SimpleNamespace

    from core.mail import delivery

    _bulk_backlog(tenant, 30)
    # This job came from the transactional queue; a system job is waiting.
    monkeypatch.setattr(
        delivery, "get_current_job", lambda: SimpleNamespace(origin=queue_name("mail"), worker_name=None)
    )
    queue("mail-system").enqueue(len, [])
    stats = delivery.deliver_due(tenant.id)
    assert stats.sent == delivery.YIELD_EVERY and stats.more
    db.session.expire_all()
    pending = db.session.execute(
        db.select(db.func.count()).select_from(Message).where(Message.status == MessageStatus.PENDING)
    ).scalar()
    assert pending == 30 - delivery.YIELD_EVERY
    # A job of the system queue itself does not give way.
    monkeypatch.setattr(
        delivery, "get_current_job", lambda: SimpleNamespace(origin=queue_name("mail-system"), worker_name=None)
    )
    assert delivery.deliver_due(tenant.id).sent == pending


def test_a_system_event_is_expanded_beside_a_running_expander_not_behind_it(app, tenant):
    """bench.priority: a system job that met the tenant's expander at work
    ended at once and left the system event to the batch after the one of
    up to 200 bulk events being rendered."""
    from core.events import emit
    from core.mail.jobs import wake_expander
    from core.models import Event, EventStatus
    from core.queueing import TenantMutex, redis, wake_key

    bulk = emit(tenant.id, "TICKET_CREATED", TICKET)
    system = emit(tenant.id, "TICKET_CREATED", TICKET, priority=Priority.SYSTEM)
    db.session.commit()
    running = TenantMutex("expand_events", tenant.id)
    assert running.acquire()  # the tenant's expander is at work on other events
    try:
        make_worker(app).work(burst=True, with_scheduler=False)  # the system job woken by emit()
        db.session.expire_all()
        assert db.session.get(Event, system.id).status == EventStatus.EXPANDED
        assert db.session.get(Event, bulk.id).status == EventStatus.NEW  # the running expander's
        (message,) = db.session.execute(db.select(Message).where(Message.event_id == system.id)).scalars()
        assert message.priority == Priority.SYSTEM
        assert redis().get(wake_key("expand_events", tenant.id, priority=Priority.SYSTEM)) is None
        assert wake_expander(tenant.id, priority=Priority.SYSTEM)  # the next system wake is not swallowed
    finally:
        running.release()


def _bulk_backlog(tenant, count: int) -> None:
    from core.models.types import utcnow

    now = utcnow()
    for i in range(count):
        db.session.add(
            Message(
                tenant_id=tenant.id,
                message_id=f"<bulk{i}@acme.example>",
                sender="a@acme.example",
                recipients=[f"r{i}@example.org"],
                subject="bulk",
                body_text="x",
                priority=Priority.BULK,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    db.session.commit()


def test_a_system_mail_claimed_with_a_bulk_backlog_goes_first(app, tenant, smtp_sink):
    """The claim took the system mail first, but the job sent its batch in id
    order: the newest mail, the system one, went out after 99 bulk ones."""
    from core.events import emit
    from core.mail import delivery
    from core.mail.jobs import expand_events

    _bulk_backlog(tenant, 30)
    emit(tenant.id, "TICKET_CREATED", TICKET, priority=Priority.SYSTEM)
    db.session.commit()
    expand_events(tenant.id)
    delivery.deliver_due(tenant.id)
    mails = smtp_sink.wait_for(31)
    assert mails[0].message["Subject"] != "bulk"
    assert [m.message["Subject"] for m in mails[1:]] == ["bulk"] * 30


def test_a_system_job_calls_for_a_connection_slot_held_by_bulk_delivery(app, tenant, smtp_sink, monkeypatch):
    """Every connection slot of the tenant taken by jobs sending its bulk
    backlog: the system job no longer tries again after CONNECTION_WAIT
    seconds but calls for a slot, and a bulk job gives its own back within
    YIELD_EVERY messages."""
    import threading
    from types import SimpleNamespace

    from core.mail import delivery
    from core.mail.connection_limit import ConnectionLimit
    from core.queueing import system_waiting
    from core.events import emit
    from core.mail.jobs import expand_events

    settings = db.session.get(MailSettings, tenant.id)
    settings.max_connections = 1
    _bulk_backlog(tenant, 30)
    db.session.commit()
    held = ConnectionLimit.for_tenant(tenant.id, 1)
    assert held.acquire()  # a bulk job's connection
    emit(tenant.id, "TICKET_CREATED", TICKET, priority=Priority.SYSTEM)
    db.session.commit()
    expand_events(tenant.id)
    queue("mail-system").empty()  # the jobs woken above: this test plays them
    assert not system_waiting(tenant.id)
    monkeypatch.setattr(
        delivery, "get_current_job", lambda: SimpleNamespace(origin=queue_name("mail-system"), worker_name=None)
    )
    calls = []

    def bulk_holder():
        # The holder, sending, sees the call and closes its connection.
        import time as clock

        until = clock.monotonic() + 5
        while clock.monotonic() < until:
            with app.app_context():
                if system_waiting(tenant.id):
                    calls.append(True)
                    held.release()
                    return
            clock.sleep(0.01)

    thread = threading.Thread(target=bulk_holder)
    thread.start()
    stats = delivery.deliver_due(tenant.id, min_priority=Priority.SYSTEM)
    thread.join()
    assert calls == [True]
    assert stats.sent == 1 and stats.waited == 0 and not stats.retry_delays
    assert [m.message["Subject"] for m in smtp_sink.wait_for(1)] != ["bulk"]
    assert not system_waiting(tenant.id)  # the call is withdrawn
    # A bulk job meeting such a call gives its connection back.
    monkeypatch.setattr(
        delivery, "get_current_job", lambda: SimpleNamespace(origin=queue_name("mail-bulk"), worker_name=None)
    )
    from core.queueing import want_slot

    want_slot(tenant.id)
    stats = delivery.deliver_due(tenant.id)
    assert stats.sent == delivery.YIELD_EVERY and stats.more
    assert ConnectionLimit.for_tenant(tenant.id, 1).in_use() == 0
