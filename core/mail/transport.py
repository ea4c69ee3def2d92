"""SMTP transport: one connection, reused for many messages of one tenant.

Outcomes are sorted into four kinds that decide the message's fate:
temporary (retry later), permanent (FAILED now), configuration (the tenant's
settings are wrong: stop and tell the admin) and unknown (the link broke after
the message was handed over and before the server answered: RFC 1047).
"""

from __future__ import annotations

import functools
import poplib
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

from .. import targets
from ..metrics import SMTP_SECONDS
from .deadline import Deadline
from .pop3 import DeadlinePOP3, DeadlinePOP3_SSL


class Security(str, Enum):
    NONE = "none"  # plain text; internal relays only
    STARTTLS = "starttls"  # required: no fallback, no AUTH in clear
    STARTTLS_OPTIONAL = "starttls_optional"  # upgrade when offered
    SSL = "ssl"  # implicit TLS on connect


DEFAULT_PORTS = {Security.NONE: 25, Security.STARTTLS: 587, Security.STARTTLS_OPTIONAL: 587, Security.SSL: 465}


class DeliveryError(Exception):
    kind = "temporary"

    def __init__(self, text: str, code: int | None = None, *, connection_lost: bool = False):
        super().__init__(text)
        self.code = code
        self.text = text
        # The connection cannot be used for the next message.
        self.connection_lost = connection_lost


class TemporaryError(DeliveryError):
    kind = "temporary"


class PermanentError(DeliveryError):
    kind = "permanent"


class ConfigurationError(DeliveryError):
    """Only the admin can fix this (credentials, TLS, certificates)."""

    kind = "configuration"


class UnknownOutcome(DeliveryError):
    """The server may or may not have the message."""

    kind = "unknown"


@dataclass
class PopLogin:
    """POP-before-SMTP: some providers open SMTP relaying for an address for
    a while after a successful POP3 login from it."""

    host: str
    port: int
    username: str
    password: str
    security: str = "ssl"  # ssl | starttls | none


@dataclass
class SmtpConfig:
    host: str
    port: int
    security: Security = Security.STARTTLS
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    # Overall seconds for one step of the conversation (connect and log in,
    # or one message), however slowly the server dribbles its answers.
    deadline: float = 120.0
    trusted_ca_pem: str | None = None
    local_hostname: str = "postwerk.localhost"
    # "password" or "xoauth2" (password then holds the access token).
    auth_mechanism: str = "password"
    pop_before_smtp: PopLogin | None = None


def _describe(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


def _classify(code: int, text: bytes | str, *, what: str) -> DeliveryError:
    words = f"{what}: {_describe(code, text)}"
    if code == 421:
        return TemporaryError(words, code, connection_lost=True)
    if code == 535 or code == 530 or b"5.7.139" in (text if isinstance(text, bytes) else text.encode()):
        return ConfigurationError(words, code)
    if 400 <= code < 500:
        return TemporaryError(words, code)
    return PermanentError(words, code)


_PERIOD_AT_LINE_START = re.compile(rb"(?m)^\.")
# local@domain without anything smtplib's quoting would change, or the empty
# sender of a bounce.
_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+|")


class _SMTP(smtplib.SMTP):
    """smtplib's client with a DATA that knows when the final dot went out."""

    dot_sent = False
    deadline: Deadline | None = None

    def _get_socket(self, host, port, timeout):
        # smtplib's own, with the socket watched by the deadline before any
        # TLS handshake (SMTP_SSL) or greeting is read.
        sock = self.deadline.connect((host, port), timeout)
        if isinstance(self, smtplib.SMTP_SSL):
            sock = self.context.wrap_socket(sock, server_hostname=self._host)
        return sock

    # Addresses arrive validated and in transport form (mime.transport_address),
    # so they are quoted as they are: smtplib's quoteaddr parsed each again
    # with the email package, a sixth of the client's time per message.
    # Anything unusual still takes smtplib's own path.
    def mail(self, sender: str, options=()) -> tuple[int, bytes]:
        if not _PLAIN_ADDRESS.fullmatch(sender):
            return super().mail(sender, options)
        optionlist = ""
        if options and self.does_esmtp:
            if any(x.lower() == "smtputf8" for x in options):
                if not self.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
                self.command_encoding = "utf-8"
            optionlist = " " + " ".join(options)
        self.putcmd("mail", f"FROM:<{sender}>{optionlist}")
        return self.getreply()

    def rcpt(self, recip: str, options=()) -> tuple[int, bytes]:
        if options or not _PLAIN_ADDRESS.fullmatch(recip):
            return super().rcpt(recip, options)
        self.putcmd("rcpt", f"TO:<{recip}>")
        return self.getreply()

    def data_bytes(self, payload: bytes, before_dot: Callable[[], object] | None = None) -> tuple[int, bytes]:
        self.dot_sent = False
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            return code, reply
        body = _PERIOD_AT_LINE_START.sub(b"..", payload)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        if before_dot is not None:
            # The last moment before the server may have the message: the
            # caller's record of "handed over" (core.mail.markers).
            before_dot()
        self.send(body + b".\r\n")
        self.dot_sent = True
        return self.getreply()

    def pipeline(
        self, sender: str, options: list[str], recipients: list[str]
    ) -> tuple[tuple[int, bytes], list[tuple[int, bytes]], tuple[int, bytes]]:
        """MAIL, every RCPT and DATA in one write (RFC 2920), then their
        replies in order. Only for plain addresses without SMTPUTF8."""
        self.dot_sent = False
        optionlist = (" " + " ".join(options)) if options else ""
        lines = [f"MAIL FROM:<{sender}>{optionlist}\r\n", *(f"RCPT TO:<{r}>\r\n" for r in recipients), "DATA\r\n"]
        self.send("".join(lines))
        mail = self.getreply()
        rcpts = [self.getreply() for _ in recipients]
        return mail, rcpts, self.getreply()

    def end_data(self, payload: bytes | None, before_dot: Callable[[], object] | None = None) -> tuple[int, bytes]:
        """After a 354: the message (or, when no recipient was accepted, an
        empty one the server must refuse, RFC 2920 3.1) and the final dot."""
        body = _PERIOD_AT_LINE_START.sub(b"..", payload) if payload else b""
        if body and not body.endswith(b"\r\n"):
            body += b"\r\n"
        if payload is not None and before_dot is not None:
            before_dot()  # as in data_bytes: the record of "handed over" (core.mail.markers)
        self.send(body + b".\r\n")
        self.dot_sent = payload is not None
        return self.getreply()


class _SMTP_SSL(_SMTP, smtplib.SMTP_SSL):
    pass


def _no_server(what: str, host: str, port: int, tls: bool = False) -> TemporaryError:
    """One answer for refused, unreachable, silent and not-that-protocol
    alike: the connection check must not tell closed ports from open ones,
    nor show another service's banner (issue 16)."""
    over = " over TLS" if tls else ""
    return TemporaryError(f"cannot connect to {host}:{port}: no {what} server answered{over}", connection_lost=True)


@functools.lru_cache(maxsize=64)
def tls_context(trusted_ca_pem: str | None) -> ssl.SSLContext:
    """Always verifying: the system's CAs, plus one the admin chose to trust.

    Cached per trusted CA: loading the system's CAs took about 35 ms, paid
    again by every delivery job; a context is reusable across connections.
    """
    context = ssl.create_default_context()
    if trusted_ca_pem:
        context.load_verify_locations(cadata=trusted_ca_pem)
    return context


def _tls_error(exc: ssl.SSLError, host: str, port: int) -> ConfigurationError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConfigurationError(
            f"the certificate of {host} was not accepted: {exc.verify_message}. "
            "Upload the server's CA certificate if this is an internal server, or check the host name."
        )
    return ConfigurationError(f"TLS with {host}:{port} failed: {exc}. Check port and security mode.")


class SmtpTransport:
    def __init__(self, config: SmtpConfig):
        self.config = config
        self.smtp: _SMTP | None = None
        self.smtputf8 = False
        self.deadline = Deadline(config.deadline)

    # -- connection ---------------------------------------------------------
    def open(self) -> None:
        cfg = self.config
        if not cfg.host:
            raise ConfigurationError("no SMTP server is configured")
        if cfg.username and cfg.security == Security.NONE and not targets.is_loopback(cfg.host):
            raise ConfigurationError(
                f"without TLS the password for {cfg.host} would cross the network in clear; nothing was sent "
                "(choose STARTTLS or SSL/TLS: security 'none' with a login is for this machine only)"
            )
        # The TLS context is asked for only where TLS is spoken (it is cached):
        # the first one of a process loads the system's CAs, about 20 ms of
        # CPU that a worker sending through a plain loopback relay would pay
        # for nothing.
        # The target policy is checked where the socket is opened
        # (Deadline.connect -> targets.connect), on the one DNS answer it
        # connects to: a TargetRefused there becomes a ConfigurationError below.
        self.deadline.start()
        if cfg.pop_before_smtp is not None:
            self._pop_login(cfg.pop_before_smtp, tls_context(cfg.trusted_ca_pem))
        try:
            if cfg.security == Security.SSL:
                smtp = _SMTP_SSL(
                    local_hostname=cfg.local_hostname, timeout=cfg.timeout, context=tls_context(cfg.trusted_ca_pem)
                )
            else:
                smtp = _SMTP(local_hostname=cfg.local_hostname, timeout=cfg.timeout)
            smtp.deadline = self.deadline
            smtp._host = cfg.host  # for TLS: set by the constructor only when it connects itself
            self.smtp = smtp
            try:
                code, text = smtp.connect(cfg.host, cfg.port)
            except ssl.SSLCertVerificationError:
                raise  # a TLS server answered: its certificate is the admin's business
            except (OSError, smtplib.SMTPServerDisconnected):
                if self.deadline.expired:
                    raise  # told below as "took longer than N s in all"
                # Refused, unreachable, silent: one answer, so the connection
                # check is no port scanner.
                raise _no_server("SMTP", cfg.host, cfg.port, cfg.security == Security.SSL) from None
            if code != 220:
                if not 400 <= code < 600:  # not an SMTP greeting: say nothing of what it was
                    raise _no_server("SMTP", cfg.host, cfg.port, cfg.security == Security.SSL)
                raise smtplib.SMTPConnectError(code, text)
            targets.check_peer(smtp.sock, cfg.host)
            smtp.ehlo()
            if cfg.security in (Security.STARTTLS, Security.STARTTLS_OPTIONAL):
                if smtp.has_extn("starttls"):
                    code, text = smtp.starttls(context=tls_context(cfg.trusted_ca_pem))
                    if code != 220:
                        raise ConfigurationError(f"STARTTLS refused: {_describe(code, text)}")
                    smtp.ehlo()
                elif cfg.security == Security.STARTTLS:
                    raise ConfigurationError(
                        f"{cfg.host} does not offer STARTTLS, which the settings require; nothing was sent "
                        "(choose SSL/TLS on port 465, or STARTTLS-if-available only for a trusted network)"
                    )
                elif cfg.username:
                    # "If offered" upgrades the mail, never a password: no AUTH in clear.
                    raise ConfigurationError(
                        f"{cfg.host} does not offer STARTTLS, and the login is never sent in clear; nothing "
                        "was sent (choose STARTTLS or SSL/TLS, or no login)"
                    )
            self.smtputf8 = smtp.has_extn("smtputf8")
            if cfg.username:
                self._login(smtp)
            self.deadline.stop()
        except ssl.SSLError as exc:
            self.close()
            raise _tls_error(exc, cfg.host, cfg.port) from exc
        except targets.TargetRefused as exc:
            self.close()
            raise ConfigurationError(str(exc)) from None
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            raise ConfigurationError(
                f"login refused by {cfg.host}: {_describe(exc.smtp_code, exc.smtp_error)}", exc.smtp_code
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            self.close()
            raise ConfigurationError(f"{cfg.host}: {exc}") from exc
        except smtplib.SMTPConnectError as exc:
            self.close()
            raise _classify(exc.smtp_code, exc.smtp_error, what=f"connecting to {cfg.host}") from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise _classify(exc.smtp_code, exc.smtp_error, what=f"{cfg.host}") from exc
        except (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError) as exc:
            self.close()
            if self.deadline.expired:
                raise TemporaryError(self._past_deadline("connecting and logging in"), connection_lost=True) from exc
            raise TemporaryError(
                f"{cfg.host}:{cfg.port} did not answer in time or closed the connection: {exc or type(exc).__name__}",
                connection_lost=True,
            ) from exc
        except OSError as exc:
            self.close()
            if self.deadline.expired:
                raise TemporaryError(self._past_deadline("connecting and logging in"), connection_lost=True) from exc
            raise TemporaryError(
                f"cannot connect to {cfg.host}:{cfg.port}: {exc.strerror or exc}", connection_lost=True
            ) from exc
        except DeliveryError:
            self.close()
            raise

    def _past_deadline(self, step: str) -> str:
        return (
            f"{self.config.host}:{self.config.port} took longer than {self.config.deadline:g} s in all for "
            f"{step} (it answers too slowly); the connection was closed"
        )

    def _pop_login(self, pop: PopLogin, context: ssl.SSLContext) -> None:
        timeout = self.config.timeout
        client = None
        if pop.security == "none" and pop.password and not targets.is_loopback(pop.host):
            raise ConfigurationError(
                f"without TLS the POP3 password for {pop.host} would cross the network in "
                "clear; choose SSL/TLS or STARTTLS for POP-before-SMTP"
            )
        deadline = Deadline(self.config.deadline).start()
        try:
            try:
                if pop.security == "ssl":
                    client = DeadlinePOP3_SSL(deadline, pop.host, pop.port, timeout=timeout, context=context)
                else:
                    client = DeadlinePOP3(deadline, pop.host, pop.port, timeout=timeout)
            except ssl.SSLCertVerificationError:
                raise
            except (OSError, poplib.error_proto):  # refused, silent, or another service's banner
                if deadline.expired:
                    raise
                raise _no_server("POP3", pop.host, pop.port) from None
            targets.check_peer(client.sock, pop.host)
            if pop.security == "starttls":
                client.stls(context=context)
            client.user(pop.username)
            client.pass_(pop.password)
            client.quit()
            client = None
        except ssl.SSLError as exc:
            raise _tls_error(exc, pop.host, pop.port) from exc
        except targets.TargetRefused as exc:
            raise ConfigurationError(f"POP-before-SMTP: {exc}") from None
        except poplib.error_proto as exc:
            text = str(exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc)
            raise ConfigurationError(f"POP-before-SMTP login at {pop.host} refused: {text}") from exc
        except OSError as exc:
            if deadline.expired:
                raise TemporaryError(
                    f"POP-before-SMTP: {pop.host}:{pop.port} took longer than {self.config.deadline:g} s in all",
                    connection_lost=True,
                ) from exc
            raise _no_server("POP3", pop.host, pop.port) from None
        finally:
            if client is not None:
                client.close()
            deadline.release()

    def _login(self, smtp: _SMTP) -> None:
        cfg = self.config
        if not smtp.has_extn("auth"):
            raise ConfigurationError(f"{cfg.host} offers no AUTH; remove the login or check the security mode")
        if cfg.auth_mechanism == "xoauth2":
            token = f"user={cfg.username}\x01auth=Bearer {cfg.password}\x01\x01"
            # On a bad token the server sends a 334 with an error (JSON) and
            # expects an empty answer before its 535 (Google's and Microsoft's
            # documented XOAUTH2 exchange).
            smtp.auth("XOAUTH2", lambda challenge=None: token if challenge is None else "", initial_response_ok=True)
        else:
            smtp.login(cfg.username, cfg.password)

    @property
    def is_open(self) -> bool:
        return self.smtp is not None

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            self.deadline.release()
            return
        try:
            if not self.deadline.expired:
                self.deadline.start()  # QUIT, too, within a deadline
                smtp.quit()
            else:
                smtp.close()
        except (smtplib.SMTPException, OSError):
            smtp.close()
        finally:
            self.deadline.release()

    def __enter__(self) -> "SmtpTransport":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one message ----------------------------------------------------------
    def send(
        self,
        sender: str,
        recipients: list[str],
        payload: bytes,
        *,
        needs_smtputf8: bool = False,
        before_dot: Callable[[], object] | None = None,
    ) -> dict[str, str]:
        with SMTP_SECONDS.time():  # the SMTP latency histogram of /metrics
            return self._send(sender, recipients, payload, needs_smtputf8=needs_smtputf8, before_dot=before_dot)

    def _send(
        self,
        sender: str,
        recipients: list[str],
        payload: bytes,
        *,
        needs_smtputf8: bool = False,
        before_dot: Callable[[], object] | None = None,
    ) -> dict[str, str]:
        """Send one message; returns the per-recipient answers of the server.

        ``before_dot`` is called after the server's 354, right before the
        message and its final dot are written: only then may the server have it.

        Raises a :class:`DeliveryError` subclass when nobody received it.
        Recipients refused while others were accepted are reported in the
        returned dict (their answer starts with 4 or 5) and do not raise.
        """
        if self.smtp is None:
            self.open()
        smtp = self.smtp
        assert smtp is not None
        options = []
        if needs_smtputf8:
            if not self.smtputf8:
                raise PermanentError(
                    f"{self.config.host} does not support SMTPUTF8, which this message's international address needs"
                )
            options.append("SMTPUTF8")
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(payload)}")
        phase = "MAIL FROM"
        self.deadline.start()
        if (
            smtp.has_extn("pipelining")
            and not needs_smtputf8
            and _PLAIN_ADDRESS.fullmatch(sender)
            and all(_PLAIN_ADDRESS.fullmatch(r) for r in recipients)
        ):
            return self._send_pipelined(smtp, sender, recipients, payload, options, before_dot)
        try:
            code, text = smtp.mail(sender, options)
            if code != 250:
                self._reset()
                raise _classify(code, text, what="sender refused")
            phase = "RCPT TO"
            results: dict[str, str] = {}
            accepted = []
            for rcpt in recipients:
                code, text = smtp.rcpt(rcpt)
                results[rcpt] = _describe(code, text)
                if code in (250, 251):
                    accepted.append(rcpt)
                elif code == 421:
                    raise _classify(code, text, what=f"recipient {rcpt}")
            if not accepted:
                self._reset()
                worst = min(int(r[:3]) for r in results.values())
                error = _classify(
                    worst, "; ".join(f"{k}: {v}" for k, v in results.items()), what="all recipients refused"
                )
                raise error
            phase = "DATA"
            code, text = smtp.data_bytes(payload, before_dot)
            if code != 250:
                if code != 421:
                    self._reset()
                raise _classify(code, text, what="message refused")
            for rcpt in accepted:
                results[rcpt] = _describe(code, text)
            self.deadline.stop()
            return results
        except (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            self._lost(smtp, phase, exc)
        except DeliveryError as exc:
            self._refused(smtp, exc)
            raise

    def _send_pipelined(
        self,
        smtp: _SMTP,
        sender: str,
        recipients: list[str],
        payload: bytes,
        options: list[str],
        before_dot: Callable[[], object] | None,
    ) -> dict[str, str]:
        """``send()`` with MAIL, RCPT and DATA in one round trip (the server
        offers PIPELINING); the same outcomes as the step-by-step path."""
        phase = "MAIL FROM"
        try:
            (mail_code, mail_text), rcpt_replies, (data_code, data_text) = smtp.pipeline(sender, options, recipients)
            results: dict[str, str] = {}
            accepted = []
            for rcpt, (code, text) in zip(recipients, rcpt_replies):
                results[rcpt] = _describe(code, text)
                if code in (250, 251):
                    accepted.append(rcpt)
            if data_code == 354 and (mail_code != 250 or not accepted):
                smtp.end_data(None)  # nothing to send: an empty DATA the server refuses
                data_code = 0
            if mail_code != 250:
                if mail_code != 421:
                    self._reset()
                raise _classify(mail_code, mail_text, what="sender refused")
            for rcpt, (code, text) in zip(recipients, rcpt_replies):
                if code == 421:
                    raise _classify(code, text, what=f"recipient {rcpt}")
            if not accepted:
                self._reset()
                worst = min(int(r[:3]) for r in results.values())
                raise _classify(
                    worst, "; ".join(f"{k}: {v}" for k, v in results.items()), what="all recipients refused"
                )
            if data_code != 354:
                if data_code != 421:
                    self._reset()
                raise _classify(data_code, data_text, what="message refused")
            phase = "DATA"
            code, text = smtp.end_data(payload, before_dot)
            if code != 250:
                if code != 421:
                    self._reset()
                raise _classify(code, text, what="message refused")
            for rcpt in accepted:
                results[rcpt] = _describe(code, text)
            self.deadline.stop()
            return results
        except (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
            self._lost(smtp, phase, exc)
        except DeliveryError as exc:
            self._refused(smtp, exc)
            raise

    def _lost(self, smtp: _SMTP, phase: str, exc: BaseException) -> NoReturn:
        """The link broke during ``phase`` of one message (either send path):
        UNKNOWN once the final dot may have reached the server (RFC 1047),
        else a temporary error to retry."""
        dot_sent = smtp.dot_sent
        self.smtp = None
        smtp.close()
        self.deadline.release()
        if self.deadline.expired:
            exc = TimeoutError(self._past_deadline("one message"))
        if phase == "DATA" and dot_sent:
            raise UnknownOutcome(
                f"the connection to {self.config.host} broke after the message was handed over and before "
                f"the server confirmed it ({exc or type(exc).__name__}); it may or may not have been delivered",
                connection_lost=True,
            ) from exc
        raise TemporaryError(
            f"connection lost during {phase}: {exc or type(exc).__name__}", connection_lost=True
        ) from exc

    def _refused(self, smtp: _SMTP, exc: DeliveryError) -> None:
        """The server refused the message (either send path): the step is
        over; a refusal that ended the connection closes it here."""
        self.deadline.stop()
        if exc.connection_lost:
            self.smtp = None
            smtp.close()
            self.deadline.release()

    def _reset(self) -> None:
        try:
            self.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()
