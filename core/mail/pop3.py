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
