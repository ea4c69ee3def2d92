"""Tests of the real-server helpers in tests/support.

Each helper is started, used the way the suite will use it, and stopped. A test
skips only when the server's program is not installed (ServerUnavailable);
every other failure is a failure.
"""

from __future__ import annotations

import base64
import imaplib
import json
import math
import poplib
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage

import pytest

from tests.support import ServerUnavailable
from tests.support.certs import CertSet, make_certs
from tests.support.dovecot import DovecotServer
from tests.support.ports import free_port
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import Behaviour, SmtpSink
from tests.support.smtp_sink_process import SinkProcess


def start_or_skip(server):
    """Start ``server``; skip the test (only) when its program is missing."""
    try:
        return server.start()
    except ServerUnavailable as exc:
        pytest.skip(exc.reason)


def mail(n: int = 1, *, to: str = "rcpt@example.test") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.test"
    message["To"] = to
    message["Subject"] = f"test message {n}"
    message["Message-ID"] = f"<msg-{n}@postwerk.test>"
    message.set_content(f"body {n}\n")
    return message


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> CertSet:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def sink_factory():
    """Build SmtpSinks with any options; all are stopped after the test."""
    sinks: list[SmtpSink] = []

    def build(**options) -> SmtpSink:
        sink = SmtpSink(**options).start()
        sinks.append(sink)
        return sink

    yield build
    for sink in sinks:
        sink.stop()


@pytest.fixture
def sink(sink_factory) -> SmtpSink:
    return sink_factory()


# -- ports and certificates -------------------------------------------------


def test_free_port_is_bindable_on_loopback():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if the port were taken
    assert 1024 <= port <= 65535


def test_certificates_are_cached_and_verify_as_intended(certs, tmp_path):
    assert make_certs(certs.directory) is certs
    assert make_certs(tmp_path) is not certs  # another directory, another CA
    for path in (certs.ca_cert, certs.server_cert, certs.selfsigned_cert, certs.wronghost_cert):
        assert path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert certs.server_key.stat().st_mode & 0o077 == 0  # private keys not world-readable


# -- Redis ------------------------------------------------------------------


def redis_command(port: int, *words: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(" ".join(words).encode() + b"\r\n")
        return sock.recv(1024)


def test_redis_answers_and_restarts_empty_on_the_same_port(tmp_path):
    import redis

    server = start_or_skip(RedisServer(tmp_path))
    try:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping() is True
            client.set("job", "queued")
            port = server.port

            server.restart()

            assert server.port == port
            assert client.get("job") is None  # back, but empty
            assert client.dbsize() == 0
        finally:
            client.close()
        server.kill()
        with pytest.raises(OSError):
            redis_command(port, "PING")
    finally:
        server.stop()


# -- PostgreSQL -------------------------------------------------------------


def test_postgres_databases_survive_a_restart(tmp_path):
    import psycopg

    server = start_or_skip(PostgresServer(tmp_path))
    try:
        url = server.create_database("support_test")
        assert url.startswith("postgresql+psycopg://postgres@")
        assert url.endswith("/support_test")
        with psycopg.connect(server.dsn("support_test"), autocommit=True) as conn:
            conn.execute("CREATE TABLE outbox (id int PRIMARY KEY, state text)")
            conn.execute("INSERT INTO outbox VALUES (1, 'queued')")

        survivor = psycopg.connect(server.dsn("support_test"), autocommit=True)
        try:
            server.restart()
            # The open connection was cut ("database connection lost mid-run")...
            with pytest.raises(psycopg.OperationalError):
                survivor.execute("SELECT 1")
        finally:
            survivor.close()
        # ...and a new one sees the data.
        with psycopg.connect(server.dsn("support_test")) as conn:
            assert conn.execute("SELECT state FROM outbox WHERE id = 1").fetchone() == ("queued",)

        server.drop_database("support_test")
        with psycopg.connect(server.dsn()) as conn:
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        assert "support_test" not in names
    finally:
        server.stop()


# -- SMTP sink: transport ---------------------------------------------------


def test_sink_receives_plain_smtp(sink):
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        refused = client.send_message(mail(1), to_addrs=["a@example.test", "b@example.test"])
    assert refused == {}

    [received] = sink.wait_for(1)
    assert received.mail_from == "sender@example.test"
    assert received.rcpt_tos == ["a@example.test", "b@example.test"]
    assert received.message_id == "<msg-1@postwerk.test>"
    assert received.message["Subject"] == "test message 1"
    assert received.message.get_content() == "body 1\n"
    assert b"Subject: test message 1" in received.raw
    assert (received.outcome, received.tls, received.login) == ("accepted", False, None)
    assert sink.count_by_message_id() == {"<msg-1@postwerk.test>": 1}

    sink.clear()
    assert sink.messages == [] and sink.connections == 0


def test_sink_starttls_verifies_against_the_test_ca(sink_factory, certs):
    sink = sink_factory(starttls_context=certs.server_context(), require_starttls=True)
    with smtplib.SMTP("localhost", sink.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        # require_starttls: no mail before the upgrade.
        code, _ = client.mail("sender@example.test")
        assert code == 530
        client.starttls(context=ssl.create_default_context(cafile=str(certs.ca_cert)))
        client.send_message(mail(2))
    [received] = sink.wait_for(1)
    assert received.tls is True
    assert sink.connections == 1  # STARTTLS re-runs connection_made; still one session


@pytest.mark.parametrize(
    ("kind", "error"),
    [("selfsigned", "self-signed certificate"), ("wronghost", "Hostname mismatch")],
)
def test_sink_starttls_bad_certificates_fail_verification(sink_factory, certs, kind, error):
    sink = sink_factory(starttls_context=certs.server_context(kind))
    with smtplib.SMTP("localhost", sink.port, timeout=10) as client:
        with pytest.raises(ssl.SSLCertVerificationError, match=error):
            client.starttls(context=certs.client_context())
    assert sink.messages == []


def test_sink_implicit_tls(sink_factory, certs):
    sink = sink_factory(implicit_tls_context=certs.server_context())
    with smtplib.SMTP_SSL("localhost", sink.port, timeout=10, context=certs.client_context()) as client:
        client.send_message(mail(3))
    [received] = sink.wait_for(1)
    assert received.tls is True
    assert received.message_id == "<msg-3@postwerk.test>"


# -- SMTP sink: misbehaviour ------------------------------------------------


def test_sink_rejects_one_recipient_and_accepts_the_others(sink_factory):
    sink = sink_factory(behaviour=Behaviour(rcpt_replies={"Bad@X.test": "550 5.1.1 no such user"}))
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        refused = client.send_message(mail(4), to_addrs=["good@x.test", "bad@x.test", "other@x.test"])
    assert refused == {"bad@x.test": (550, b"5.1.1 no such user")}
    [received] = sink.wait_for(1)
    assert received.rcpt_tos == ["good@x.test", "other@x.test"]


def test_sink_drops_the_connection_after_data_but_keeps_the_message(sink):
    sink.behaviour.drop_after_data = 1  # only the next message, then heal
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.send_message(mail(5))
    [dropped] = sink.wait_for(1)
    assert dropped.outcome == "dropped"

    # The client cannot know it was delivered; sending again duplicates it.
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.send_message(mail(5))
    assert [m.outcome for m in sink.wait_for(2)] == ["dropped", "accepted"]
    assert sink.count_by_message_id()["<msg-5@postwerk.test>"] == 2


def test_sink_deferral_heals_and_421_closes_the_connection(sink):
    sink.behaviour.data_reply = ["451 4.3.0 try later"]  # one deferral, then normal
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            client.send_message(mail(6))
        assert deferred.value.smtp_code == 451
        client.send_message(mail(6))
    assert [m.outcome for m in sink.wait_for(1)] == ["accepted"]  # the deferred one is not kept

    sink.behaviour.mail_reply = "421 4.7.0 closing"
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(mail(7))
        assert refused.value.smtp_code == 421
    sink.behaviour.mail_reply = None

    sink.behaviour.data_reply = "421 4.7.0 closing"
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError):
            client.send_message(mail(8))
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()  # the server hung up after its 421
    assert len(sink.messages) == 1


def test_sink_greeting_misbehaviour(sink):
    sink.behaviour.hang_after_connect = math.inf
    with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
        smtplib.SMTP(sink.host, sink.port, timeout=0.5)

    sink.behaviour.hang_after_connect = 0
    sink.behaviour.no_greeting = True
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtplib.SMTP(sink.host, sink.port, timeout=5)

    sink.behaviour.no_greeting = False
    sink.behaviour.greeting_reply = "421 4.3.2 too busy"
    with pytest.raises(smtplib.SMTPConnectError) as busy:
        smtplib.SMTP(sink.host, sink.port, timeout=5)
    assert busy.value.smtp_code == 421

    sink.behaviour.greeting_reply = None  # healed
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
        assert client.noop()[0] == 250


def test_sink_hangs_after_data_but_has_the_message(sink):
    sink.behaviour.hang_after_data = math.inf
    with smtplib.SMTP(sink.host, sink.port, timeout=0.5) as client:
        with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
            client.send_message(mail(9))
        client.close()
    [received] = sink.wait_for(1)
    assert received.outcome == "hung"


# -- SMTP sink: AUTH --------------------------------------------------------


def test_sink_auth_plain_and_login(sink_factory):
    sink = sink_factory(auth={"alice": "s3cret"})
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        with pytest.raises(smtplib.SMTPSenderRefused) as unauthenticated:
            client.send_message(mail(10))
        assert unauthenticated.value.smtp_code == 530
        client.rset()
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            client.login("alice", "wrong")
        assert wrong.value.smtp_code == 535
        client.user, client.password = "alice", "s3cret"
        assert client.auth("PLAIN", client.auth_plain)[0] == 235
        client.send_message(mail(10))
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.ehlo()
        client.user, client.password = "alice", "s3cret"
        assert client.auth("LOGIN", client.auth_login, initial_response_ok=False)[0] == 235
        client.send_message(mail(11))
    assert [m.login for m in sink.wait_for(2)] == ["alice", "alice"]


def xoauth2(user: str, token: str, challenges: list[bytes]):
    """smtplib authobject: the initial response, then an empty answer to the error challenge."""

    def authobject(challenge: bytes | None = None) -> str:
        if challenge is None:
            return f"user={user}\x01auth=Bearer {token}\x01\x01"
        challenges.append(challenge)
        return ""

    return authobject


def test_sink_xoauth2(sink_factory):
    tokens = {"alice@example.test": "good-token"}
    sink = sink_factory(auth=lambda user, token: tokens.get(user) == token)
    challenges: list[bytes] = []
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.ehlo()
        assert client.esmtp_features["auth"].split() == ["XOAUTH2"]
        with pytest.raises(smtplib.SMTPAuthenticationError) as bad:
            client.auth("XOAUTH2", xoauth2("alice@example.test", "stale", challenges))
        assert bad.value.smtp_code == 535
        # Like Gmail: the error came first as a base64 JSON challenge.
        assert json.loads(challenges[0])["status"] == "401"

        code, _ = client.auth("XOAUTH2", xoauth2("alice@example.test", "good-token", challenges))
        assert code == 235
        client.send_message(mail(12))
    # Also without an initial response (client waits for an empty 334 first).
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.ehlo()
        blob = base64.b64encode(b"user=alice@example.test\x01auth=Bearer good-token\x01\x01")
        assert client.docmd("AUTH", "XOAUTH2")[0] == 334
        assert client.docmd(blob.decode())[0] == 235
    [received] = sink.wait_for(1)
    assert received.login == "alice@example.test"


# -- SMTP sink: connection accounting ----------------------------------------


def test_sink_counts_concurrent_connections(sink):
    first = smtplib.SMTP(sink.host, sink.port, timeout=10)
    second = smtplib.SMTP(sink.host, sink.port, timeout=10)
    try:
        assert sink.connections == 2
        assert sink.max_concurrent_connections == 2
    finally:
        first.quit()
        second.quit()
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.send_message(mail(13))
    assert sink.connections == 3
    assert sink.max_concurrent_connections in (2, 3)  # 3 only if a QUIT is still in flight


def test_sink_max_connections_refuses_the_extra_session(sink):
    sink.behaviour.max_connections = 1
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP(sink.host, sink.port, timeout=10)
        assert refused.value.smtp_code == 421
        assert client.noop()[0] == 250  # the first session is unaffected


def test_sink_counts_messages_from_parallel_clients(sink):
    def send(n: int) -> None:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
            client.send_message(mail(n))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(20, 30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sink.wait_for(10)) == 10
    assert set(sink.count_by_message_id().values()) == {1}


def test_sink_wait_for_times_out_with_a_clear_message(sink):
    with pytest.raises(AssertionError, match="expected at least 1 message"):
        sink.wait_for(1, timeout=0.1)


# -- SMTP sink in its own process -------------------------------------------


def test_sink_process_counts_one_hundred_mails():
    with SinkProcess() as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
            for n in range(100):
                client.send_message(mail(n))
        assert sink.count() == 100
        ids = sink.message_ids()
    assert ids == [f"<msg-{n}@postwerk.test>" for n in range(100)]


# -- Dovecot ----------------------------------------------------------------


def test_dovecot_serves_a_delivered_mail_over_imap_and_pop3(tmp_path):
    server = start_or_skip(DovecotServer(tmp_path, {"alice": "pw-alice", "bob": "pw-bob"}))
    try:
        server.deliver("alice", mail(40).as_bytes())

        imap = imaplib.IMAP4(server.host, server.imap_port, timeout=10)
        try:
            with pytest.raises(imaplib.IMAP4.error):
                imap.login("alice", "wrong")
            imap.login("alice", "pw-alice")
            assert imap.select("INBOX") == ("OK", [b"1"])
            status, data = imap.fetch(b"1", "(RFC822)")
            assert status == "OK"
            assert b"Message-ID: <msg-40@postwerk.test>" in data[0][1]
        finally:
            imap.logout()

        pop = poplib.POP3(server.host, server.pop3_port, timeout=10)
        try:
            pop.user("alice")
            pop.pass_("pw-alice")
            assert pop.stat()[0] == 1
            lines = pop.retr(1)[1]
            assert b"Subject: test message 40" in lines
        finally:
            pop.quit()

        pop = poplib.POP3(server.host, server.pop3_port, timeout=10)
        try:
            pop.user("bob")
            pop.pass_("pw-bob")
            assert pop.stat()[0] == 0  # mailboxes are per user
        finally:
            pop.quit()
    finally:
        server.stop()
