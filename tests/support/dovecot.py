"""A private Dovecot (IMAP + POP3) for mailbox-polling tests.

Debian's dovecot 2.3 is started from a config file of our own (nothing under
/etc/dovecot is read), on free ports on 127.0.0.1, without TLS, with users and
passwords from a passwd-file. Mail is delivered by dropping files into the
users' Maildir ``new/`` folders, which is exactly what an MDA does.

Running as root needs three different accounts, because Dovecot refuses root
in two places:

- login processes (imap-login, pop3-login) abort with "This process must not
  be run as root": they run as ``dovenull``, created by Debian's dovecot-core;
- a userdb returning uid 0 is rejected ("userdb returned 0 as uid"): mail
  processes run as ``nobody``, and the mailboxes belong to ``nobody``;
- internal processes (auth, anvil, ...) run as ``dovecot``.

Those accounts cannot enter pytest's /tmp/pytest-of-root (mode 0700), so the
server's files live in a short-named directory of its own under /tmp (short
also because Unix socket paths are limited to 107 bytes). ``workdir`` keeps the
config file and the log. Not as root, everything runs as the current user.
"""

from __future__ import annotations

import grp
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import ServerUnavailable
from ._process import find_program, log_tail, spawn, stop_process, wait_until_ready
from .ports import free_port

_unique = itertools.count()


def _greets(port: int, prefix: bytes) -> bool:
    """True when the server on ``port`` sends a greeting starting with ``prefix``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(256).startswith(prefix)
    except OSError:
        return False


class DovecotServer:
    """Dovecot with IMAP on ``imap_port`` and POP3 on ``pop3_port`` (plain text, no TLS)."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, users: dict[str, str]) -> None:
        self.workdir = Path(workdir)
        self.users = dict(users)  # user name -> password (no ":" in either)
        self.config_path = self.workdir / "dovecot.conf"
        self.log_path = self.workdir / "dovecot.log"
        self.imap_port: int | None = None
        self.pop3_port: int | None = None
        self._binary: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._root_dir: Path | None = None
        if os.geteuid() == 0:
            self._login_user, self._internal_user, self._mail_user = "dovenull", "dovecot", "nobody"
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            self._login_user = self._internal_user = self._mail_user = me

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> DovecotServer:
        self._binary = find_program("dovecot", "/usr/sbin/dovecot", package="dovecot-imapd dovecot-pop3d")
        for protocol, package in (("imap", "dovecot-imapd"), ("pop3", "dovecot-pop3d")):
            if not Path(f"/usr/lib/dovecot/{protocol}").exists():
                raise ServerUnavailable(f"dovecot's {protocol} server is not installed (apt-get install {package})")
        if self._proc is not None and self._proc.poll() is None:
            return self
        for name in {self._login_user, self._internal_user, self._mail_user}:
            try:
                pwd.getpwnam(name)
            except KeyError:
                raise RuntimeError(f"user {name!r} is missing; Debian's dovecot-core package creates it") from None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._prepare_root_dir()
        if self.imap_port is None:
            self.imap_port, self.pop3_port = free_port(), free_port()
        self.config_path.write_text(self._config())
        self._proc = spawn([self._binary, "-F", "-c", self.config_path], self.log_path)
        wait_until_ready(
            lambda: _greets(self.imap_port, b"* OK") and _greets(self.pop3_port, b"+OK"),
            what=f"dovecot (IMAP {self.imap_port}, POP3 {self.pop3_port})",
            proc=self._proc,
            log_path=self.log_path,
            timeout=20,
        )
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            # The documented way; it signals the master through base_dir/master.pid
            # and then polls until that pid is gone. The master is OUR child, so
            # it stays a zombie (and "alive" to that poll) until we reap it:
            # wait for the master first, not for the stop command, or every
            # stop takes the command's full 3 s.
            command = subprocess.Popen(
                [self._binary, "-c", str(self.config_path), "stop"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stop_process(self._proc)
            command.wait(timeout=10)
        self._proc = None
        if self._root_dir is not None:
            shutil.rmtree(self._root_dir, ignore_errors=True)
            self._root_dir = None

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- mail ----------------------------------------------------------------

    def maildir(self, user: str) -> Path:
        """The user's Maildir (created on first use)."""
        if self._root_dir is None:
            self._prepare_root_dir()
        assert self._root_dir is not None
        path = self._root_dir / "mail" / user
        for sub in ("", "tmp", "new", "cur"):
            (path / sub).mkdir(exist_ok=True)
            self._give_to_mail_user(path / sub)
        return path

    def deliver(self, user: str, raw: bytes) -> Path:
        """Put a message into ``user``'s INBOX as an MDA would; returns its file.

        Written to ``tmp/`` and renamed into ``new/``: the rename is atomic, so
        Dovecot never sees a half written message.
        """
        maildir = self.maildir(user)
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(_unique)}.postwerk-test"
        temporary = maildir / "tmp" / name
        temporary.write_bytes(raw)
        self._give_to_mail_user(temporary)
        final = maildir / "new" / name
        os.rename(temporary, final)
        return final

    def log(self) -> str:
        return log_tail(self.log_path)

    # -- internals -----------------------------------------------------------

    def _prepare_root_dir(self) -> None:
        if self._root_dir is not None:
            return
        root = Path(tempfile.mkdtemp(prefix="pwdc-"))
        root.chmod(0o755)  # the unprivileged dovecot processes must enter it
        (root / "mail").mkdir()
        self._give_to_mail_user(root / "mail")
        # The passdb is read by the auth process, which runs as the internal user.
        users = root / "users"
        users.write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in self.users.items()))
        users.chmod(0o644)
        self._root_dir = root

    def _give_to_mail_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam(self._mail_user)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _config(self) -> str:
        assert self._root_dir is not None
        root = self._root_dir
        mail = pwd.getpwnam(self._mail_user)
        internal_group = grp.getgrgid(pwd.getpwnam(self._internal_user).pw_gid).gr_name
        # Services that default to running as root must not, when we are not root.
        as_me = "" if os.geteuid() == 0 else "service auth-worker {\n  user = $default_internal_user\n}\n"
        return f"""\
# Generated by tests/support/dovecot.py for one test run. Self-contained on
# purpose: nothing from /etc/dovecot is included.
protocols = imap pop3
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
instance_name = postwerk-test-{self.imap_port}

ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests try wrong passwords on purpose. Without these, each failure costs
# 2 s (auth_failure_delay), and anvil's per-IP penalty delays the following
# logins from 127.0.0.1 by 2, 4, 8 ... up to 15 s (disabled below).
auth_failure_delay = 0
# Log why a login failed: tests that fail on auth are otherwise opaque.
auth_verbose = yes
mail_fsync = never

default_login_user = {self._login_user}
default_internal_user = {self._internal_user}
default_internal_group = {internal_group}
first_valid_uid = 1
last_valid_uid = 0

mail_location = maildir:{root}/mail/%u

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail.pw_uid} gid={mail.pw_gid} home={root}/mail/%u
}}

# chroot needs root and a prepared directory tree; not worth it for tests.
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # The auth process finds no penalty socket it may open and so skips the
  # penalty (the way the Dovecot docs give to turn it off).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{as_me}"""
