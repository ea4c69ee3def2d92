"""Talking to mail servers: IMAP (imapclient), POP3 (poplib), Exchange (IMAP + XOAUTH2).

A source lists the mails not seen yet with their sizes, fetches several
mails in one round trip (or one mail's header), and deletes mails. Certificates are always verified
(``ssl.create_default_context``, plus a CA the admin trusted); the standard
library does not verify unless given such a context (``core.api.tls_context``,
the one the sending side uses).
"""

from __future__ import annotations

import functools
import poplib
import socket
import ssl
from dataclasses import dataclass
from typing import Iterable, Protocol

from imapclient import IMAPClient, imap4, tls
from imapclient.exceptions import IMAPClientError

from core.api import (
    Deadline,
    DeadlinePOP3,
    DeadlinePOP3_SSL,
    TargetRefused,
    check_target_peer,
    is_loopback,
    tls_context,
)

from . import exchange

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 120.0  # overall seconds per step: log in, list, fetch one batch of mails, delete, log out


class MailboxError(RuntimeError):
    """The server cannot be reached or refuses us; the words are the admin's to read."""


class Vanished(LookupError):
    """The mail was removed from the server (by a person or another poller) after it was listed."""


@dataclass(frozen=True)
class ServerMail:
    """One mail on the server: its stable key and its size in bytes."""

    key: str
    size: int
    uid: int | None = None  # IMAP
    number: int | None = None  # POP3, valid in this session only


class Source(Protocol):
    uidvalidity: int

    def pending(self, watermark: int, known: set[str] | None = None) -> list[ServerMail]: ...
    def fetch_many(self, mails: list[ServerMail]) -> dict[str, bytes]: ...
    def fetch_header(self, mail: ServerMail) -> bytes: ...
    def delete(self, mails: Iterable[ServerMail]) -> None: ...
    def close(self) -> None: ...


def xoauth2_string(username: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (Google/Microsoft), before base64."""
    return f"user={username}\x01auth=Bearer {access_token}\x01\x01"


def _within_deadline(step):
    """One step of the conversation, ended by the overall deadline however
    slowly the server answers (a per-read timeout never fires on a tarpit)."""

    @functools.wraps(step)
    def bounded(self, *args, **kwargs):
        self.deadline.start()
        try:
            return step(self, *args, **kwargs)
        except Exception:
            if self.deadline.expired:
                raise MailboxError(_too_slow(self.deadline, self.mailbox)) from None
            raise
        finally:
            self.deadline.stop()

    return bounded


def _too_slow(deadline: Deadline, mailbox) -> str:
    return (
        f"{mailbox.host}:{mailbox.port} took longer than {deadline.seconds:g} s in all for one step "
        "(it answers too slowly); the connection was closed"
    )


class _IMAP4(imap4.IMAP4WithTimeout):
    """imapclient's connection, its socket watched by the deadline from the start."""

    def __init__(self, deadline: Deadline, host: str, port: int, timeout: float | None) -> None:
        self.deadline = deadline
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout=None):
        return self.deadline.connect((self.host, self.port), timeout)


class _IMAP4_TLS(tls.IMAP4_TLS):
    def __init__(self, deadline: Deadline, *args) -> None:
        self.deadline = deadline
        super().__init__(*args)

    def _create_socket(self, timeout=None):
        return tls.wrap_socket(self.deadline.connect((self.host, self.port), timeout), self.ssl_context, self.host)


class _IMAPClient(IMAPClient):
    def __init__(self, deadline: Deadline, *args, **kwargs) -> None:
        self.deadline = deadline
        super().__init__(*args, **kwargs)

    def _create_IMAP4(self):  # noqa: N802 (imapclient's name)
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _IMAP4_TLS(self.deadline, self.host, self.port, self.ssl_context, connect_timeout)
        return _IMAP4(self.deadline, self.host, self.port, connect_timeout)


class ImapSource:
    def __init__(self, mailbox, *, timeout: float, deadline: float = DEFAULT_DEADLINE) -> None:
        context = tls_context(mailbox.trusted_ca_pem)
        self.mailbox = mailbox
        token = ""
        if mailbox.protocol == "exchange":
            # Before the connection: a refresh talks to the identity
            # provider under its own deadline.
            try:
                token = exchange.access_token(mailbox)
            except exchange.NoToken as exc:
                raise MailboxError(str(exc)) from None
        self.deadline = Deadline(deadline).start()
        try:
            self.client = _IMAPClient(
                self.deadline,
                mailbox.host,
                port=mailbox.port,
                ssl=mailbox.security == "ssl",
                ssl_context=context,
                timeout=timeout,
            )
        except ssl.SSLCertVerificationError as exc:  # a TLS server answered; other TLS failures say nothing
            self.deadline.release()
            raise MailboxError(_describe(exc, mailbox)) from None
        except TargetRefused as exc:  # checked on the very address connected to (core.api.Deadline.connect)
            self.deadline.release()
            raise MailboxError(str(exc)) from None
        except (OSError, IMAPClientError):  # refused, silent, or another service's banner: all alike
            self.deadline.release()
            if self.deadline.expired:
                raise MailboxError(_too_slow(self.deadline, mailbox)) from None
            raise MailboxError(_no_server("IMAP", mailbox)) from None
        try:
            check_target_peer(self.client.socket(), mailbox.host)
            if mailbox.security == "starttls":
                self.client.starttls(context)
            if mailbox.protocol == "exchange":
                self.client.oauth2_login(mailbox.username, token)
            else:
                self.client.login(mailbox.username, mailbox.password)
            info = self.client.select_folder(mailbox.folder or "INBOX", readonly=mailbox.leave_on_server)
            self.deadline.stop()
        except (OSError, IMAPClientError) as exc:
            self.close()
            if self.deadline.expired:
                raise MailboxError(_too_slow(self.deadline, mailbox)) from None
            raise MailboxError(_describe(exc, mailbox)) from None
        except TargetRefused as exc:
            self.close()
            raise MailboxError(str(exc)) from None
        except BaseException:  # MailboxError, SecretError, ...: never leave the socket open
            self.close()
            raise
        self.uidvalidity = int(info[b"UIDVALIDITY"])

    @_within_deadline
    def pending(self, watermark: int, known: set[str] | None = None) -> list[ServerMail]:
        # "n:*" always matches the highest UID, even below n: filter here.
        uids = sorted(u for u in self.client.search(["UID", f"{watermark + 1}:*"]) if u > watermark)
        found: list[ServerMail] = []
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            sizes = self.client.fetch(chunk, ["RFC822.SIZE"])
            found += [
                ServerMail(key=str(uid), uid=uid, size=int(sizes[uid][b"RFC822.SIZE"])) for uid in chunk if uid in sizes
            ]
        return found

    @_within_deadline
    def fetch_many(self, mails: list[ServerMail]) -> dict[str, bytes]:
        """Several mails in one round trip (one UID FETCH): {key: bytes}.
        A mail that is not in the answer was removed after it was listed."""
        if not mails:
            return {}
        # PEEK: polling must not mark mail read for the people using the mailbox.
        data = self.client.fetch([mail.uid for mail in mails], ["BODY.PEEK[]"])
        found = {}
        for mail in mails:
            content = data.get(mail.uid, {}).get(b"BODY[]")
            if content is not None:  # None: gone, or NIL from a server that saw it expunged
                found[mail.key] = bytes(content)
        return found

    @_within_deadline
    def fetch_header(self, mail: ServerMail) -> bytes:
        data = self.client.fetch([mail.uid], ["BODY.PEEK[HEADER]"])
        content = data.get(mail.uid, {}).get(b"BODY[HEADER]")
        if content is None:  # gone, or NIL from a server that saw it expunged
            raise Vanished(mail.key)
        return bytes(content)

    @_within_deadline
    def delete(self, mails: Iterable[ServerMail]) -> None:
        uids = [m.uid for m in mails]
        if not uids:
            return
        self.client.delete_messages(uids)
        if self.client.has_capability("UIDPLUS"):
            self.client.uid_expunge(uids)
        else:
            self.client.expunge()

    def close(self) -> None:
        try:
            if not self.deadline.expired:
                self.deadline.start()  # LOGOUT, too, within a deadline
            self.client.logout()
        except Exception:  # already gone: nothing left to close
            try:
                self.client.shutdown()
            except Exception:
                pass
        finally:
            self.deadline.release()


class Pop3Source:
    uidvalidity = 0

    def __init__(self, mailbox, *, timeout: float, deadline: float = DEFAULT_DEADLINE) -> None:
        context = tls_context(mailbox.trusted_ca_pem)
        self.mailbox = mailbox
        self.deadline = Deadline(deadline).start()
        try:
            if mailbox.security == "ssl":
                self.pop = DeadlinePOP3_SSL(self.deadline, mailbox.host, mailbox.port, timeout=timeout, context=context)
            else:
                self.pop = DeadlinePOP3(self.deadline, mailbox.host, mailbox.port, timeout=timeout)
        except ssl.SSLCertVerificationError as exc:  # a TLS server answered; other TLS failures say nothing
            self.deadline.release()
            raise MailboxError(_describe(exc, mailbox)) from None
        except TargetRefused as exc:  # checked on the very address connected to (core.api.Deadline.connect)
            self.deadline.release()
            raise MailboxError(str(exc)) from None
        except (OSError, poplib.error_proto):  # refused, silent, or another service's banner: all alike
            self.deadline.release()
            if self.deadline.expired:
                raise MailboxError(_too_slow(self.deadline, mailbox)) from None
            raise MailboxError(_no_server("POP3", mailbox)) from None
        try:
            check_target_peer(self.pop.sock, mailbox.host)
            if mailbox.security == "starttls":
                self.pop.stls(context)
            self.pop.user(mailbox.username)
            self.pop.pass_(mailbox.password)
            self.deadline.stop()
        except (OSError, poplib.error_proto) as exc:
            self.close(commit=False)
            if self.deadline.expired:
                raise MailboxError(_too_slow(self.deadline, mailbox)) from None
            raise MailboxError(_describe(exc, mailbox)) from None
        except TargetRefused as exc:
            self.close(commit=False)
            raise MailboxError(str(exc)) from None
        except BaseException:  # SecretError, ...: never leave the socket open
            self.close(commit=False)
            raise

    @_within_deadline
    def pending(self, watermark: int, known: set[str] | None = None) -> list[ServerMail]:
        # Message numbers change between sessions; the UIDL does not.
        sizes = {}
        for line in self.pop.list()[1]:
            number, size = line.split()[:2]
            sizes[int(number)] = int(size)
        found = []
        for line in self.pop.uidl()[1]:
            number, uidl = line.split()[:2]
            key = uidl.decode("ascii", "replace")
            found.append(ServerMail(key=key, number=int(number), size=sizes.get(int(number), 0)))
        return found

    @_within_deadline
    def fetch_many(self, mails: list[ServerMail]) -> dict[str, bytes]:
        """Several mails: pipelined RETRs in one round trip when the server
        offers PIPELINING, else one after the other. The maildrop is locked
        for this session: a listed mail cannot vanish."""
        found = self.pop.retr_many([mail.number for mail in mails])
        return {mail.key: b"\r\n".join(lines) + b"\r\n" for mail, lines in zip(mails, found)}

    @_within_deadline
    def fetch_header(self, mail: ServerMail) -> bytes:
        return b"\r\n".join(self.pop.top(mail.number, 0)[1]) + b"\r\n"

    @_within_deadline
    def delete(self, mails: Iterable[ServerMail]) -> None:
        for mail in mails:
            self.pop.dele(mail.number)

    def close(self, commit: bool = True) -> None:
        # QUIT commits DELEs; a session that breaks before it deletes nothing.
        try:
            if commit and not self.deadline.expired:
                self.deadline.start()  # QUIT, too, within a deadline
                self.pop.quit()
            else:
                self.pop.close()
        except Exception:
            try:
                self.pop.close()
            except Exception:
                pass
        finally:
            self.deadline.release()


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def open_source(mailbox, *, timeout: float = DEFAULT_TIMEOUT, deadline: float = DEFAULT_DEADLINE) -> Source:
    if mailbox.security == "none" and not is_loopback(mailbox.host):
        # The password would cross the network in clear.
        raise MailboxError(f"{mailbox.host}: a connection without TLS is only allowed on this machine (loopback)")
    if mailbox.protocol == "pop3":
        return Pop3Source(mailbox, timeout=timeout, deadline=deadline)
    return ImapSource(mailbox, timeout=timeout, deadline=deadline)


def _no_server(protocol: str, mailbox) -> str:
    """Refused, unreachable, silent or another protocol: one answer, so the
    connection test tells no open port from a closed one (issue 16)."""
    return f"cannot connect to {mailbox.host}:{mailbox.port}: no {protocol} server answered"


def _describe(exc: BaseException, mailbox) -> str:
    where = f"{mailbox.host}:{mailbox.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the certificate of {where} is not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS with {where} failed: {exc.reason or exc}"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{where} did not answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where} refused the connection"
    if isinstance(exc, OSError):
        return f"cannot reach {where}: {exc.strerror or exc}"
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{where}: {text}"[:500]
