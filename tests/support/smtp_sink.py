"""An in-process SMTP server for tests that records what it receives and can misbehave.

Built on aiosmtpd's threaded ``Controller``: the server runs an asyncio loop in
a background thread; tests talk to it over real TCP on 127.0.0.1.

Misbehaviour is driven by :class:`Behaviour`, read on every SMTP command, so a
test can break the server and heal it while a client is running::

    sink.behaviour.data_reply = "451 4.3.0 try later"   # every message deferred
    ...
    sink.behaviour.data_reply = None                     # healed

Implementation notes (aiosmtpd 1.4.6):

- AUTH XOAUTH2 is not built in. aiosmtpd collects every ``auth_<MECH>`` method
  of the *handler* as an extra mechanism and calls it as
  ``handler.auth_MECH(server, args)`` where ``args`` is the AUTH command line
  split on spaces; it must return an ``AuthResult``. ``server.challenge_auth()``
  sends a ``334`` continuation and returns the client's decoded answer.
- ``AuthResult.handled`` defaults to True, meaning "I already sent the reply":
  a failed AuthResult without ``handled=False`` leaves the client waiting
  for a reply that never comes.
- Hooks (``handle_MAIL`` ...) that return a reply string replace aiosmtpd's own
  handling; returning ``MISSING`` keeps aiosmtpd's default (which records the
  address in the envelope).
- Connection level behaviour (greeting, peak connection count) needs an
  ``SMTP`` subclass, created through ``Controller.factory()``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import email.policy
import functools
import json
import logging
import math
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, TLSSetupException

log = logging.getLogger("mail.log")  # aiosmtpd's own logger

# A reply setting may be a str (used every time), None (behave normally), or
# a list consumed one entry per command (None entries = behave normally), e.g.
# ["451 4.3.0 try later"] defers exactly one message and then heals itself.
ReplySetting = str | list[str | None] | None


@dataclass
class Behaviour:
    """How the sink (mis)behaves. Change attributes at any time, from any thread."""

    #: RCPT address (case-insensitive) -> reply, e.g. {"bad@x.test": "550 5.1.1 no such user"}.
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    #: Reply to MAIL FROM instead of 250, e.g. "451 4.3.0 try later".
    mail_reply: ReplySetting = None
    #: Reply to the DATA command itself (before any content), instead of 354.
    data_command_reply: ReplySetting = None
    #: Reply to the final dot instead of 250, e.g. "554 5.7.1 rejected".
    #: A 2xx reply still counts as accepted; 4xx/5xx messages are not recorded.
    data_reply: ReplySetting = None
    #: Close the connection after the whole message arrived but before replying
    #: to the final dot (RFC 1047): the client cannot know if it was delivered.
    #: The message IS recorded (outcome "dropped"), as a real server may keep it.
    #: True: every message; an int N: the next N messages, then heal.
    drop_after_data: bool | int = False
    #: Seconds of silence after accepting a connection before the greeting
    #: (math.inf: never greet). For client connect/greeting time-outs.
    hang_after_connect: float = 0.0
    #: Seconds of silence after the final dot before the reply (math.inf: never).
    #: The message is recorded when it arrives, before the silence.
    hang_after_data: float = 0.0
    #: Seconds of silence after a MAIL FROM before its reply (nothing of the
    #: message has reached the server yet). A list: one entry per MAIL
    #: command, consumed, e.g. [0, 30] lets the first through and stalls the
    #: second.
    hang_after_mail: float | list[float] = 0.0
    #: Accept the TCP connection, then close it without a greeting.
    no_greeting: bool = False
    #: Reply sent instead of the 220 greeting, then the connection is closed,
    #: e.g. "421 4.3.2 Service not available" or "554 5.3.2 no service".
    greeting_reply: str | None = None
    #: More simultaneous sessions than this get "421 4.7.0 Too many connections".
    max_connections: int | None = None
    #: Offer PIPELINING (RFC 2920) in the EHLO reply. aiosmtpd reads buffered
    #: commands in order anyway; ``SmtpSink.pipelined`` counts the MAIL
    #: commands that arrived together with their RCPT (the client did not wait).
    pipelining: bool = False
    #: Seconds each reply takes to reach the client, like a network's delay:
    #: the reply is written that much later, without holding up the commands
    #: already received behind it (so pipelined commands share one delay).
    reply_delay: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def take(self, name: str) -> str | None:
        """The reply to use now for setting ``name``, consuming a list entry."""
        with self._lock:
            value = getattr(self, name)
            if isinstance(value, list):
                return value.pop(0) if value else None
            return value

    def take_drop(self) -> bool:
        with self._lock:
            value = self.drop_after_data
            if value is True or value is False:
                return value
            if value > 0:
                self.drop_after_data = value - 1
                return True
            return False


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes  # exactly as received (CRLF line ends, dot-unstuffed)
    message: EmailMessage  # parsed with policy.default, line ends normalised to LF
    message_id: str | None
    #: "accepted" (250 sent), "dropped" (connection closed before the reply),
    #: "hung" (reply delayed by hang_after_data).
    outcome: str
    tls: bool
    login: str | None
    received_at: float


class _Login:
    """auth_data for XOAUTH2: aiosmtpd copies its ``.login`` to session.login_data."""

    def __init__(self, login: bytes) -> None:
        self.login = login


async def _sleep(seconds: float) -> None:
    if math.isinf(seconds):
        await asyncio.get_running_loop().create_future()  # until cancelled
    elif seconds > 0:
        await asyncio.sleep(seconds)


def _parse_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """``user=U\\x01auth=Bearer T\\x01\\x01`` -> (U, T); None when malformed."""
    fields = {}
    for part in blob.split(b"\x01"):
        key, sep, value = part.partition(b"=")
        if sep:
            fields[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    user, auth = fields.get("user"), fields.get("auth", "")
    if not user or not auth.startswith("Bearer "):
        return None
    return user, auth[len("Bearer ") :]


class _Handler:
    """aiosmtpd handler: records messages and applies the Behaviour.

    aiosmtpd treats every attribute named ``handle_*`` or ``auth_*`` as a hook,
    so this class must not have other attributes with those prefixes.
    """

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With this (5 argument) hook aiosmtpd leaves host_name to us.
        session.host_name = hostname
        if self.sink._auth is None:
            # No AUTH configured: do not advertise it at all, like most MTAs.
            responses = [r for r in responses if not r[4:].startswith("AUTH")]
        if self.sink.behaviour.pipelining:
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # Enforced here rather than with aiosmtpd's auth_required=True, which
        # emits a UserWarning ("Requiring AUTH while not requiring TLS") from
        # the server thread on every connection: under -W error that breaks
        # the session, and silencing it there would race with pytest's own
        # warning filters (they are process-wide).
        if b"RCPT" in bytes(getattr(server._reader, "_buffer", b"")).upper():
            with self.sink._cond:
                self.sink.pipelined += 1  # its RCPT came before this MAIL's reply went out
        if self.sink._auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        with self.sink._cond:
            self.sink.mail_commands += 1
        await _sleep(self.sink.behaviour.take("hang_after_mail") or 0)
        reply = self.sink.behaviour.take("mail_reply")
        if reply is None or reply.startswith("2"):
            if reply is not None:  # a custom 2xx still has to fill the envelope
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                return reply
            return MISSING
        return reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = {k.lower(): v for k, v in self.sink.behaviour.rcpt_replies.items()}
        return replies.get(address.lower(), MISSING)

    async def handle_DATA(self, server, session, envelope):
        behaviour = self.sink.behaviour
        if behaviour.take_drop():
            self.sink._record(server, session, envelope, "dropped")
            server.transport.close()
            await _sleep(math.inf)  # cancelled by aiosmtpd when the connection is lost
        reply = behaviour.take("data_reply")
        hang = behaviour.hang_after_data
        if reply is None or reply.startswith("2"):
            self.sink._record(server, session, envelope, "hung" if hang else "accepted")
        await _sleep(hang)
        return reply or f"250 2.0.0 Ok: queued as {len(self.sink._messages)}"

    async def handle_exception(self, error: Exception) -> str:
        # A client refusing our certificate is an expected outcome of the TLS
        # tests, not a server fault: answer without aiosmtpd's traceback
        # (aiosmtpd closes the connection after a failed handshake anyway).
        if isinstance(error, TLSSetupException):
            return "454 4.7.0 TLS handshake failed"
        log.error("SMTP sink session exception", exc_info=error)
        return f"500 Error: ({type(error).__name__}) {error}"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2 as Gmail/Outlook speak it.

        ``args`` is ["XOAUTH2"] or ["XOAUTH2", <base64 initial response>].
        On a bad token the server sends a 334 carrying a base64 JSON error,
        the client answers with an empty line, and only then comes the 535.
        """
        if len(args) == 1:
            blob = await server.challenge_auth("")  # empty "334 " prompt
            if blob is MISSING:  # client cancelled; aiosmtpd already replied
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        parsed = _parse_xoauth2(blob)
        check = self.sink._auth
        if parsed is not None and callable(check) and check(*parsed):
            return AuthResult(success=True, auth_data=_Login(parsed[0].encode()))
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
        answer = await server.challenge_auth(error)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")


class _SinkSMTP(SMTP):
    """SMTP session with connection accounting and greeting misbehaviour."""

    def __init__(self, handler: _Handler, sink: SmtpSink, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = sink

    def connection_made(self, transport) -> None:
        # Also called again after STARTTLS on the same session: count only
        # the first call (aiosmtpd sets _original_transport at STARTTLS).
        if self._original_transport is None:
            self._sink._session_opened(self)
        super().connection_made(transport)

    def connection_lost(self, error) -> None:
        self._sink._session_closed(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        # aiosmtpd sends its greeting at the top of this (private) coroutine;
        # wrapping it is the only way to delay or replace the greeting.
        behaviour = self._sink.behaviour
        if behaviour.no_greeting:
            self.transport.close()
            return
        limit = behaviour.max_connections
        if limit is not None and self._sink._live_count() > limit:
            await self.push("421 4.7.0 Too many connections, try again later")
            return
        if behaviour.greeting_reply:
            await self.push(behaviour.greeting_reply)
            if self.transport is not None:
                self.transport.close()
            return
        await _sleep(behaviour.hang_after_connect)
        await super()._handle_client()

    @functools.wraps(SMTP.smtp_DATA)  # keeps aiosmtpd's HELP text for DATA
    async def smtp_DATA(self, arg: str) -> None:
        reply = self._sink.behaviour.take("data_command_reply")
        if reply is not None:
            await self.push(reply)
            return
        await super().smtp_DATA(arg)

    @staticmethod
    def _delayed_write(transport, data: bytes) -> None:
        if not transport.is_closing():
            transport.write(data)

    async def push(self, status) -> None:
        delay = self._sink.behaviour.reply_delay
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        if delay and not text.startswith("421") and self.transport is not None:
            data = status if isinstance(status, bytes) else status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
            # Later by the delay, in order (equal delays run first in, first out).
            self.loop.call_later(delay, self._delayed_write, self.transport, data + b"\r\n")
            return
        await super().push(status)
        # RFC 5321 4.2.2: after a 421 the server closes the channel. Without
        # this, a test answering MAIL/DATA with 421 would leave it open.
        text = status.decode("ascii", "replace") if isinstance(status, bytes) else status
        if text.startswith("421") and self.transport is not None:
            self.transport.close()


class _Controller(Controller):
    def __init__(self, sink: SmtpSink, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = sink

    def factory(self) -> SMTP:
        return _SinkSMTP(self.handler, self._sink, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # We listen on port 0 (the kernel picks a free port: no race with other
        # processes). aiosmtpd's start-up self-test connects to self.port, so
        # set it to the real port first.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """A recording SMTP server on 127.0.0.1; see the module docstring.

    ``auth``: None (no AUTH), ``{"user": "password"}`` (PLAIN and LOGIN), or a
    callable ``(user, token) -> bool`` (XOAUTH2). With auth, MAIL without a
    successful AUTH gets "530 5.7.0 Authentication required".
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        starttls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls_context: ssl.SSLContext | None = None,
        auth: dict[str, str] | Callable[[str, str], bool] | None = None,
        behaviour: Behaviour | None = None,
    ) -> None:
        self.behaviour = behaviour or Behaviour()
        self._auth = auth
        self._cond = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._sessions: dict[int, _SinkSMTP] = {}  # open sessions by id()
        self._connections = 0
        self._peak = 0
        self.mail_commands = 0  # MAIL FROM commands seen
        self.pipelined = 0
        self._counting = False  # off during aiosmtpd's start-up self-test
        self._controller: _Controller | None = None
        self._port: int | None = None
        self._starttls_context = starttls_context
        self._require_starttls = require_starttls
        self._implicit_tls_context = implicit_tls_context

    # -- lifecycle -----------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SmtpSink is not started")
        return self._port

    def start(self) -> SmtpSink:
        if self._controller is not None:
            return self
        if self._auth is None:
            excluded = ["PLAIN", "LOGIN", "XOAUTH2"]
        elif callable(self._auth):
            excluded = ["PLAIN", "LOGIN"]
        else:
            excluded = ["XOAUTH2"]
        handler = _Handler(self)
        controller = _Controller(
            self,
            handler,
            hostname=self.host,
            port=0,
            ssl_context=self._implicit_tls_context,
            # A fixed name: aiosmtpd's default calls socket.getfqdn(), which
            # can take seconds on machines with slow or no DNS.
            server_hostname="sink.postwerk.test",
            ready_timeout=10,
            tls_context=self._starttls_context,
            require_starttls=self._require_starttls,
            # Allow AUTH on plain connections: tests cover that case too.
            # (AUTH is enforced in handle_MAIL, see there.)
            auth_require_tls=False,
            auth_exclude_mechanism=excluded,
            authenticator=self._authenticate,
            decode_data=False,  # keep the exact bytes the client sent
        )
        controller.start()
        self._controller = controller
        self._port = controller.port
        with self._cond:
            self._counting = True
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        # Close sessions first: a hung session would otherwise keep the
        # server's wait_closed() waiting (Python >= 3.12 waits for them).
        with self._cond:
            sessions = list(self._sessions.values())
        for session in sessions:
            if session.transport is not None:
                controller.loop.call_soon_threadsafe(session.transport.close)
        controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what was received ---------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._cond:
            return list(self._messages)

    def wait_for(self, n: int, timeout: float = 10) -> list[ReceivedMessage]:
        """Block until at least ``n`` messages arrived; return all of them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= n, timeout):
                ids = [m.message_id for m in self._messages]
                raise AssertionError(
                    f"SMTP sink on port {self.port}: expected at least {n} message(s) "
                    f"within {timeout} s, got {len(self._messages)}: {ids}"
                )
            return list(self._messages)

    def clear(self) -> None:
        """Forget received messages and reset the connection counters."""
        with self._cond:
            self._messages.clear()
            self._connections = 0
            self._peak = len(self._sessions)

    def count_by_message_id(self) -> collections.Counter[str]:
        """Message-ID -> times received; any value > 1 is a duplicate delivery."""
        with self._cond:
            return collections.Counter(m.message_id for m in self._messages if m.message_id)

    @property
    def connections(self) -> int:
        """SMTP sessions opened since start (or the last clear())."""
        with self._cond:
            return self._connections

    @property
    def max_concurrent_connections(self) -> int:
        """Most sessions that were open at the same time."""
        with self._cond:
            return self._peak

    # -- called from the server thread --------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        """aiosmtpd authenticator for PLAIN and LOGIN (auth_data is LoginPassword)."""
        users = self._auth if isinstance(self._auth, dict) else {}
        assert isinstance(auth_data, LoginPassword)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in users and users[login] == password
        # handled=False on failure: aiosmtpd then sends its 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def _record(self, server, session, envelope, outcome: str) -> None:
        raw = bytes(envelope.original_content or b"")
        # Parse with LF line ends, as the email package expects (CRLF would
        # leave "\r" in every body line); ``raw`` keeps the exact wire bytes.
        message = BytesParser(policy=email.policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        message_id = message.get("Message-ID")
        # session.auth_data holds what the authenticator returned (LoginPassword
        # or _Login); session.login_data is deprecated and logs a warning.
        login = getattr(session.auth_data, "login", None)
        record = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            raw=raw,
            message=message,
            message_id=str(message_id).strip() if message_id else None,
            outcome=outcome,
            tls=server.transport.get_extra_info("ssl_object") is not None,
            login=login.decode("utf-8", "replace") if isinstance(login, bytes) else login,
            received_at=time.time(),
        )
        with self._cond:
            self._messages.append(record)
            self._cond.notify_all()

    def _session_opened(self, session: _SinkSMTP) -> None:
        with self._cond:
            if not self._counting:
                return
            self._sessions[id(session)] = session
            self._connections += 1
            self._peak = max(self._peak, len(self._sessions))

    def _session_closed(self, session: _SinkSMTP) -> None:
        with self._cond:
            self._sessions.pop(id(session), None)

    def _live_count(self) -> int:
        with self._cond:
            return len(self._sessions)
