"""Connections are pinned to the address that was checked (issue 16, DNS rebinding).

A hostile name answers an allowed address to the check and a forbidden one
to the next lookup. Only the resolver is faked (``socket.getaddrinfo`` for
that one name); the servers are real: the SMTP sink on the allowed address,
and a listener on the forbidden one that counts every connection it gets.
"""

from __future__ import annotations

import socket
import threading

import pytest

from core.mail.deadline import Deadline
from core.mail.delivery import check_connection
from tests.helpers import point_at

NAME = "rebind.postwerk.test"
ALLOWED = "127.0.0.1"  # allow-listed: where the SMTP sink listens
FORBIDDEN = "127.0.0.2"  # loopback, refused on this installation


class Listener:
    """A real server (on the forbidden address unless told otherwise): it
    accepts, counts, hangs up."""

    def __init__(self, port: int, address: str = FORBIDDEN):
        self.sock = socket.create_server((address, port))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @classmethod
    def on(cls, address: str) -> "Listener":
        return cls(0, address)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self.sock.close()


class RebindingResolver:
    """The first lookup of NAME answers ALLOWED, every later one FORBIDDEN."""

    def __init__(self):
        self.real = socket.getaddrinfo
        self.lookups = 0

    def __call__(self, host, port, *args, **kwargs):
        if host != NAME:
            return self.real(host, port, *args, **kwargs)
        self.lookups += 1
        address = ALLOWED if self.lookups == 1 else FORBIDDEN
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]


@pytest.fixture
def rebinding(app, monkeypatch):
    app.config["PRIVATE_TARGETS"] = "refuse"
    app.config["TARGET_ALLOWLIST"] = (ALLOWED,)
    resolver = RebindingResolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


def test_the_smtp_connection_goes_to_the_checked_address_not_to_a_second_answer(tenant, ctx, smtp_sink, rebinding):
    forbidden = Listener(smtp_sink.port)
    try:
        settings = point_at(tenant.id, smtp_sink, host=NAME)
        words = check_connection(settings)
    finally:
        forbidden.close()
    assert forbidden.connections == 0
    assert rebinding.lookups == 1  # resolved once, connected to that answer
    assert words.startswith(f"{NAME}:{smtp_sink.port} answered")


def test_a_name_that_now_answers_a_forbidden_address_gets_no_connection(ctx, rebinding):
    with socket.create_server((ALLOWED, 0)) as allowed:
        port = allowed.getsockname()[1]
        forbidden = Listener(port)
        try:
            with Deadline(5) as deadline:
                deadline.connect((NAME, port), 2).close()  # the first answer: the allowed address
                with pytest.raises(
                    ValueError, match="loopback address; Postwerk does not connect there.*POSTWERK_TARGET_ALLOWLIST"
                ):
                    deadline.connect((NAME, port), 2)  # the second answer: refused before connecting
        finally:
            forbidden.close()
    assert forbidden.connections == 0


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_mailbox_connection_goes_to_the_checked_address_not_to_a_second_answer(tenant, ctx, rebinding, protocol):
    from plugins.inbound_mail.connections import MailboxError, open_source
    from plugins.inbound_mail.models import Mailbox

    allowed = Listener.on(ALLOWED)
    forbidden = Listener(allowed.port)
    try:
        mailbox = Mailbox(
            tenant_id=tenant.id,
            name="x",
            protocol=protocol,
            host=NAME,
            port=allowed.port,
            security="ssl",
            username="u",
            folder="INBOX",
            leave_on_server=True,
        )
        with pytest.raises(MailboxError):  # the allowed "server" hangs up: no mail server answered
            open_source(mailbox, timeout=2)
    finally:
        forbidden.close()
        allowed.close()
    assert forbidden.connections == 0 and allowed.connections == 1
