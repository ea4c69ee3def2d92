"""Connection security, logins and the per-tenant connection limit:
RELIABILITY cases 11, 12, 13 (OAuth), 14, plus POP-before-SMTP, the
inbound-login hook and DKIM."""

from __future__ import annotations

import threading
import time

import pytest
from rq import Queue

from core.api import MailboxLogin, hookimpl
from core.app import create_app
from core.crypto import encrypt
from core.extensions import db
from core import queueing
from core.mail import delivery
from core.mail.connection_limit import ConnectionLimit
from core.models import MailSettings, MessageStatus, Notification
from core.plugin_state import set_enabled
from core.queueing import redis
from tests.helpers import make_tenant, point_at
from tests.sending_helpers import deliver, queue_message
from tests.support.certs import make_certs
from tests.support.smtp_sink import Behaviour, SmtpSink


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def _recording(sink: SmtpSink) -> list:
    """Record every AUTH attempt the sink sees (call before start())."""
    attempts = []
    original = sink._authenticate

    def authenticate(server, session, envelope, mechanism, auth_data):
        attempts.append((mechanism, server.transport.get_extra_info("ssl_object") is not None))
        return original(server, session, envelope, mechanism, auth_data)

    sink._authenticate = authenticate
    return attempts


# --- 11. STARTTLS ----------------------------------------------------------------


def test_required_starttls_not_offered_is_a_hard_error_without_auth_in_clear(tenant, ctx):
    sink = SmtpSink(auth={"user": "pw"})
    attempts = _recording(sink)
    with sink:
        point_at(
            tenant.id, sink, security="starttls", auth="password", username="user", password_encrypted=encrypt("pw")
        )
        message = queue_message(tenant.id)
        deliver(tenant.id)
        assert message.status == MessageStatus.PENDING and message.attempts == 0
        reason = db.session.get(MailSettings, tenant.id).broken_reason
        assert "does not offer STARTTLS" in reason
        assert attempts == [] and sink.messages == []


def test_starttls_with_a_trusted_internal_ca_logs_in_over_tls(tenant, ctx, certs):
    sink = SmtpSink(auth={"user": "pw"}, starttls_context=certs.server_context("ca_signed"))
    attempts = _recording(sink)
    with sink:
        point_at(
            tenant.id,
            sink,
            host="localhost",
            security="starttls",
            auth="password",
            username="user",
            password_encrypted=encrypt("pw"),
            trusted_ca_pem=certs.ca_cert.read_text(),
        )
        message = queue_message(tenant.id)
        deliver(tenant.id)
        assert message.status == MessageStatus.SENT, message.last_error
        (mail,) = sink.messages
        assert mail.tls and mail.login == "user"
        assert attempts == [("PLAIN", True)]


def test_starttls_if_available_falls_back_to_plain_only_when_not_offered(tenant, ctx, smtp_sink):
    point_at(tenant.id, smtp_sink, security="starttls_optional")
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.SENT
    assert smtp_sink.messages[0].tls is False


def test_implicit_tls(tenant, ctx, certs):
    with SmtpSink(implicit_tls_context=certs.server_context("ca_signed")) as sink:
        point_at(tenant.id, sink, host="localhost", security="ssl", trusted_ca_pem=certs.ca_cert.read_text())
        message = queue_message(tenant.id)
        deliver(tenant.id)
        assert message.status == MessageStatus.SENT, message.last_error
        assert sink.messages[0].tls


# --- 12. certificates -------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, trust_ca, words",
    [
        ("selfsigned", False, "self-signed certificate"),
        ("ca_signed", False, "unable to get local issuer certificate"),  # internal CA not uploaded
        ("wronghost", True, "Hostname mismatch"),
    ],
)
def test_untrusted_or_wrong_certificate_is_a_clear_error_and_nothing_is_sent(tenant, ctx, certs, kind, trust_ca, words):
    with SmtpSink(starttls_context=certs.server_context(kind)) as sink:
        point_at(
            tenant.id,
            sink,
            host="localhost",
            security="starttls",
            trusted_ca_pem=certs.ca_cert.read_text() if trust_ca else None,
        )
        message = queue_message(tenant.id)
        deliver(tenant.id)
        assert message.status == MessageStatus.PENDING and message.attempts == 0
        reason = db.session.get(MailSettings, tenant.id).broken_reason
        assert "certificate of localhost was not accepted" in reason and words in reason
        assert sink.messages == []


# --- 14. connection limit ------------------------------------------------------------


def test_connection_limit_leases(ctx):
    a, b, c = (ConnectionLimit(redis(), 99, 2, 60, prefix=ctx.config["QUEUE_PREFIX"]) for _ in range(3))
    assert a.acquire() and b.acquire()
    assert not c.acquire()
    assert a.in_use() == 2
    b.release()
    assert c.acquire()
    # A holder that died: its lease ran out (here: at once), so the slot is free.
    dead = ConnectionLimit(redis(), 98, 1, -1, prefix=ctx.config["QUEUE_PREFIX"])
    assert dead.acquire()
    alive = ConnectionLimit(redis(), 98, 1, 60, prefix=ctx.config["QUEUE_PREFIX"])
    assert alive.acquire()
    assert not dead.renew(force=True)  # an expired lease is not revived
    assert alive.renew(force=True) and alive.in_use() == 1
    # Redis unreachable: no slot (the mail waits) rather than no limit.
    from redis import Redis

    from tests.support.ports import free_port

    gone = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    assert not ConnectionLimit(gone, 97, 5, 60, prefix="x").acquire()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_claim_takes_at_most_its_limit_in_due_order(tenant, ctx):
    messages = [queue_message(tenant.id) for _ in range(12)]
    ids = [m.id for m in messages]
    first = delivery.claim(tenant.id, 5)
    second = delivery.claim(tenant.id, 5)
    third = delivery.claim(tenant.id, 5)
    assert (first[1], second[1], third[1]) == (ids[:5], ids[5:10], ids[10:])
    assert len({first[0], second[0], third[0]}) == 3


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_never_more_connections_than_configured_across_workers(tenant, app, ctx, monkeypatch):
    monkeypatch.setattr(delivery, "BATCH_SIZE", 3)
    with SmtpSink(behaviour=Behaviour(hang_after_data=0.05)) as sink:
        point_at(tenant.id, sink, max_connections=2)
        for _ in range(24):
            queue_message(tenant.id)
        waited = []
        tenant_id = tenant.id  # plain int: the ORM object belongs to this thread's session

        def worker():
            with app.app_context():
                for _ in range(200):
                    stats = delivery.deliver_due(tenant_id)
                    waited.append(stats.waited)
                    remaining = db.session.execute(
                        db.select(db.func.count())
                        .select_from(delivery.Message)
                        .where(delivery.Message.status.in_(("PENDING", "SENDING")))
                    ).scalar()
                    db.session.rollback()
                    if not remaining:
                        break
                db.session.remove()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(sink.messages) == 24
        assert sum(sink.count_by_message_id().values()) == 24 and max(sink.count_by_message_id().values()) == 1
        assert sink.max_concurrent_connections <= 2


def _queued_lanes() -> list[int]:
    """The lanes of the delivery jobs waiting in the queue."""
    from core.mail import jobs

    found = []
    for job in queueing.queue().get_jobs():
        if job.func_name.endswith(jobs.deliver_messages.__name__):
            found.append(job.args[2] if len(job.args) > 2 else 0)
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_backlog_goes_out_over_a_second_connection_at_once(tenant, app, ctx, monkeypatch):
    """Lane 0 finds a full batch and wakes lane 1, which another worker runs
    beside it on its own connection; nothing is sent twice."""
    from core.mail import jobs

    monkeypatch.setattr(delivery, "BATCH_SIZE", 5)
    with SmtpSink(behaviour=Behaviour(hang_after_data=0.02)) as sink:
        point_at(tenant.id, sink, max_connections=2)
        for _ in range(40):
            queue_message(tenant.id)
        tenant_id = tenant.id
        lane_zero_done = threading.Event()
        performed = []

        def second_worker():
            # What another worker process does: take the next job and run it.
            with app.app_context():
                q = queueing.queue()
                while not lane_zero_done.is_set() or q.count:
                    found = Queue.dequeue_any([q], None, connection=q.connection)
                    if found is None:
                        time.sleep(0.005)
                        continue
                    performed.append(found[0].id)
                    found[0].perform()
                db.session.remove()

        helper = threading.Thread(target=second_worker)
        helper.start()
        try:
            with app.app_context():
                jobs.deliver_messages(tenant_id)
        finally:
            lane_zero_done.set()
            helper.join(60)
        assert any("-lane1-" in job_id for job_id in performed), (performed, _queued_lanes())
        assert sink.max_concurrent_connections == 2
        assert sorted(sink.count_by_message_id().values()) == [1] * 40


@pytest.mark.parametrize("limit, lanes", [(1, 4), (5, 1)])
def test_no_second_lane_beyond_the_connection_limit_or_the_lanes_setting(
    tenant, app, ctx, smtp_sink, monkeypatch, limit, lanes
):
    from core.mail import jobs

    monkeypatch.setattr(delivery, "BATCH_SIZE", 5)
    monkeypatch.setitem(app.config, "DELIVERY_LANES", lanes)
    point_at(tenant.id, smtp_sink, max_connections=limit)
    for _ in range(12):
        queue_message(tenant.id)
    assert jobs.deliver_messages(tenant.id)["sent"] == 12
    assert _queued_lanes() == []


def test_a_backlog_wakes_the_next_lane_only_once_per_job(tenant, app, ctx, smtp_sink, monkeypatch):
    from core.mail import jobs

    monkeypatch.setattr(delivery, "BATCH_SIZE", 5)
    point_at(tenant.id, smtp_sink, max_connections=3)
    for _ in range(23):
        queue_message(tenant.id)
    assert jobs.deliver_messages(tenant.id)["sent"] == 23
    assert _queued_lanes() == [1]
    # The helper of lane 1 finds nothing left and ends without waking lane 2.
    queued = queueing.queue().get_jobs()[0]
    assert queued.perform()["sent"] == 0
    assert _queued_lanes() == [1]  # still only the job just performed (it was never dequeued)


def test_a_job_without_a_free_slot_leaves_the_mail_pending_and_comes_back(tenant, ctx, smtp_sink):
    point_at(tenant.id, smtp_sink, max_connections=1)
    elsewhere = ConnectionLimit.for_tenant(tenant.id, 1)  # another machine's connection
    assert elsewhere.acquire()
    messages = [queue_message(tenant.id) for _ in range(3)]
    stats = deliver(tenant.id)
    assert stats.waited == 3 and stats.retry_delays == {delivery.CONNECTION_WAIT}
    assert [(m.status, m.attempts, m.claim_token) for m in messages] == [(MessageStatus.PENDING, 0, None)] * 3
    assert smtp_sink.connections == 0
    elsewhere.release()
    deliver(tenant.id)
    assert {m.status for m in messages} == {MessageStatus.SENT}


# --- POP-before-SMTP, same login as the inbound mailbox ---------------------------------


@pytest.mark.parametrize("password, outcome", [("boxpw", MessageStatus.SENT), ("nope", MessageStatus.PENDING)])
def test_pop_before_smtp_logs_into_the_mailbox_first(tenant, ctx, smtp_sink, pop_dovecot, password, outcome):
    point_at(
        tenant.id,
        smtp_sink,
        auth="pop_before_smtp",
        pop3_host=pop_dovecot.host,
        pop3_port=pop_dovecot.pop3_port,
        pop3_security="none",
        pop3_username="box",
        pop3_password_encrypted=encrypt(password),
    )
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == outcome
    if outcome == MessageStatus.PENDING:
        assert "POP-before-SMTP login at 127.0.0.1 refused" in db.session.get(MailSettings, tenant.id).broken_reason
        assert smtp_sink.connections == 0


class InboundPlugin:
    """Stands in for the inbound_mail plugin."""

    @hookimpl
    def postwerk_mailbox_credentials(self, tenant):
        return MailboxLogin("box@acme.example", "inbound-pw", host="127.0.0.1") if tenant.slug == "acme" else None


def test_same_login_as_the_incoming_mailbox(config):
    app = create_app(config, extra_plugins={"inbound_test": InboundPlugin()})
    with app.app_context():
        sink = SmtpSink(auth={"box@acme.example": "inbound-pw"})
        with sink:
            tenant = make_tenant("acme", sink)
            point_at(tenant.id, sink, auth="inbound")
            message = queue_message(tenant.id)
            deliver(tenant.id)
            # Not enabled for the tenant: no credentials, a clear configuration error.
            assert message.status == MessageStatus.PENDING
            assert "incoming mailbox" in db.session.get(MailSettings, tenant.id).broken_reason
            set_enabled(tenant.id, "inbound_test", True)
            point_at(tenant.id, sink, auth="inbound", broken_reason=None)
            with app.app_context():  # a new job: sees the plugin enabled
                deliver(tenant.id)
                db.session.remove()
            db.session.expire_all()
            assert message.status == MessageStatus.SENT, (
                message.last_error,
                db.session.get(MailSettings, tenant.id).broken_reason,
            )
            assert sink.messages[0].login == "box@acme.example"
        db.session.remove()
        db.engine.dispose()


class RaisingCredentials:
    """A mailbox plugin with a bug: its credentials hook raises."""

    @hookimpl
    def postwerk_mailbox_credentials(self, tenant):
        raise RuntimeError("vault sealed")


def test_a_raising_credentials_hook_fails_alone_and_is_named(config):
    # "inbound_test" registered first, so pluggy asks the raising plugin first.
    app = create_app(config, extra_plugins={"inbound_test": InboundPlugin(), "creds_bug": RaisingCredentials()})
    with app.app_context():
        sink = SmtpSink(auth={"box@acme.example": "inbound-pw"})
        with sink:
            tenant = make_tenant("acme", sink, plugins=("creds_bug",))
            settings = point_at(tenant.id, sink, auth="inbound")
            # The settings page's check: a clear error naming the plugin, not a 500.
            with pytest.raises(
                delivery.ConfigurationError,
                match="plugin 'creds_bug' failed in postwerk_mailbox_credentials: RuntimeError: vault sealed",
            ):
                delivery.check_connection(settings)
            db.session.rollback()
            # The send path holds the mail and says why, naming the plugin.
            message = queue_message(tenant.id)
            deliver(tenant.id)
            assert message.status == MessageStatus.PENDING
            assert "plugin 'creds_bug'" in db.session.get(MailSettings, tenant.id).broken_reason
            texts = [n.text for n in db.session.execute(db.select(Notification)).scalars()]
            assert any("plugin 'creds_bug' failed in postwerk_mailbox_credentials" in t for t in texts), texts
            # Another plugin that keeps the login still answers: the mail goes out.
            set_enabled(tenant.id, "inbound_test", True)
            point_at(tenant.id, sink, auth="inbound", broken_reason=None)
            with app.app_context():
                deliver(tenant.id)
                db.session.remove()
            db.session.expire_all()
            assert message.status == MessageStatus.SENT, message.last_error
            assert sink.messages[0].login == "box@acme.example"
        db.session.remove()
        db.engine.dispose()


# --- DKIM ---------------------------------------------------------------------------------


def test_dkim_signature_verifies_with_the_published_key(tenant, ctx, smtp_sink):
    import base64

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    point_at(
        tenant.id,
        smtp_sink,
        sender_address="post@acme.example",
        dkim_domain="acme.example",
        dkim_selector="pw1",
        dkim_private_key_encrypted=encrypt(pem),
    )
    queue_message(tenant.id, subject="Grüße", body="Schöne Grüße")
    deliver(tenant.id)
    (mail,) = smtp_sink.messages
    assert mail.message["DKIM-Signature"]

    def dns(name, timeout=5):
        assert name == b"pw1._domainkey.acme.example."
        return b"v=DKIM1; k=rsa; p=" + public

    assert dkim.verify(mail.raw, dnsfunc=dns)


def test_a_broken_dkim_key_stops_sending_as_a_configuration_error(tenant, ctx, smtp_sink):
    point_at(
        tenant.id,
        smtp_sink,
        sender_address="post@acme.example",
        dkim_domain="acme.example",
        dkim_selector="pw1",
        dkim_private_key_encrypted=encrypt("not a key"),
    )
    message = queue_message(tenant.id)
    deliver(tenant.id)
    assert message.status == MessageStatus.PENDING
    assert "DKIM" in db.session.get(MailSettings, tenant.id).broken_reason
    assert smtp_sink.messages == []


def test_check_connection_logs_in_and_sends_nothing(tenant, ctx):
    with SmtpSink(auth={"user": "pw"}) as sink:
        settings = point_at(tenant.id, sink, auth="password", username="user", password_encrypted=encrypt("pw"))
        assert "logged in as user" in delivery.check_connection(settings)
        settings.password_encrypted = encrypt("wrong")
        with pytest.raises(delivery.ConfigurationError, match="535"):
            delivery.check_connection(settings)
        assert sink.messages == []
