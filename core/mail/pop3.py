"""A POP3 client whose socket the conversation's deadline watches.

Two parts of Postwerk talk POP3: POP-before-SMTP in the sending transport
and the inbound mailbox poller (a plugin, which reaches it as
``core.api.DeadlinePOP3``). Both need the same three things poplib lacks.
"""

from __future__ import annotations

import poplib

from .deadline import Deadline


class DeadlinePOP3(poplib.POP3):
    """poplib's client, connected through ``Deadline.connect`` (so the target
    check and the overall deadline apply from the first byte), closing its
    socket when the greeting is not ``+OK``, and reading long lines.

    ``DeadlinePOP3(deadline, host, port, timeout=...)``; the rest is poplib's API.
    """

    # poplib refuses lines over 2048 bytes and then loses its place in the
    # stream; real mail has longer lines. A caller's size cap bounds the mail.
    line_limit = 1024 * 1024
    #: The server's CAPA answer, asked on first need (``retr_many``).
    _capabilities: dict[str, list[str]] | None = None

    def __init__(self, deadline: Deadline, *args, **kwargs) -> None:
        self.deadline = deadline
        # poplib leaves the socket open when the greeting is not "+OK"
        # (another service's banner): close it here.
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            for name in ("file", "sock"):
                if getattr(self, name, None) is not None:
                    getattr(self, name).close()
            raise

    def _create_socket(self, timeout):
        return self.deadline.connect((self.host, self.port), timeout)

    def retr_many(self, numbers: list[int]) -> list[list[bytes]]:
        """RETR of several messages; each message's lines, as ``retr()[1]``.

        When the server offers PIPELINING (RFC 2449, asked once per session,
        after the login) all the commands go out in one write and the replies
        come back in one round trip, instead of one round trip per message.
        Raises ``poplib.error_proto`` as ``retr()`` does."""
        if len(numbers) < 2 or not self._pipelining():
            return [self.retr(number)[1] for number in numbers]
        # poplib's own writer and reader (private, so typeshed leaves them out).
        self._putline(b"\r\n".join(b"RETR %d" % number for number in numbers))  # type: ignore[attr-defined]
        # Every reply is read even after an -ERR, so that the stream stays in step.
        found: list[list[bytes]] = []
        refused = None
        for _ in numbers:
            try:
                found.append(self._getlongresp()[1])  # type: ignore[attr-defined]
            except poplib.error_proto as exc:
                if not (exc.args and isinstance(exc.args[0], bytes)):
                    raise  # not the server's -ERR but the end of the stream or an overlong line
                refused = refused or exc
        if refused is not None:
            raise refused
        return found

    def _pipelining(self) -> bool:
        if self._capabilities is None:
            try:
                self._capabilities = self.capa()
            except poplib.error_proto:  # no CAPA: a server from before RFC 2449
                self._capabilities = {}
        return "PIPELINING" in self._capabilities

    def _getline(self):
        line = self.file.readline(self.line_limit + 1)
        if len(line) > self.line_limit:
            raise poplib.error_proto("line too long")
        if not line:
            raise poplib.error_proto("-ERR EOF")
        octets = len(line)
        if line[-2:] == poplib.CRLF:
            return line[:-2], octets
        if line[:1] == poplib.CR:
            return line[1:-1], octets
        return line[:-1], octets


class DeadlinePOP3_SSL(DeadlinePOP3, poplib.POP3_SSL):  # noqa: N801 (poplib's name)
    """The same over implicit TLS: ``DeadlinePOP3_SSL(deadline, host, port, timeout=..., context=...)``."""

    def _create_socket(self, timeout):
        return self.context.wrap_socket(super()._create_socket(timeout), server_hostname=self.host)
