"""A private, throw-away PostgreSQL cluster for the test suite.

We never use the cluster that Debian's ``postgresql`` package creates (it may
not exist, may not run, may have passwords): every run starts its own cluster
on a free port with ``trust`` authentication and durability switched off, which
makes it start in about a second and run DDL-heavy tests fast.

Set ``POSTWERK_TEST_POSTGRES_URL`` (a SQLAlchemy URL) to use an existing server
instead, e.g. a CI service container; then nothing is started or stopped.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

from . import ServerUnavailable
from ._process import as_user, find_program, log_tail, spawn, stop_process, wait_until_ready
from .ports import free_port

ENV_URL = "POSTWERK_TEST_POSTGRES_URL"


def _find_bindir() -> Path:
    """Directory holding initdb and postgres: Debian's newest version first."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/postgres")

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", Path(path).parent.parent.name))

    if candidates:
        return Path(max(candidates, key=version)).parent
    # Not Debian's layout (source build, other distribution): PATH may have it.
    initdb = find_program("initdb", package="postgresql")
    return Path(os.path.realpath(initdb)).parent


def _server_user() -> str | None:
    """Account to run the server as. PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):  # Debian's package creates postgres
        try:
            as_user(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root but there is neither a 'postgres' nor a 'nobody' user")


def _traversable_by(path: Path, user: str) -> bool:
    """Can ``user`` reach and write ``path``? Checked from the mode bits."""
    ids = as_user(user)
    uid, gid = ids["user"], ids["group"]
    for directory in [path, *path.parents]:
        if not directory.exists():
            continue
        st = directory.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _to_psycopg(url: str) -> str:
    """SQLAlchemy URL -> libpq URI (drop the ``+psycopg`` driver part)."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def _with_database(url: str, name: str) -> str:
    """The same URL with another database name (path component)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


class PostgresServer:
    """A PostgreSQL server for tests: a private cluster, or the one in $POSTWERK_TEST_POSTGRES_URL."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "postgres.log"
        self.external_url = os.environ.get(ENV_URL) or None
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        self._bindir: Path | None = None
        self._base: Path | None = None  # holds data/; ours to delete if a temp dir
        self._base_is_temp = False

    # -- URLs ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        if self.external_url:
            return self.external_url
        if self.port is None:
            raise RuntimeError("PostgresServer is not started")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str | None = None) -> str:
        """libpq URI for ``psycopg.connect`` (the server's own database by default)."""
        url = self.url if database is None else _with_database(self.url, database)
        return _to_psycopg(url)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> PostgresServer:
        if self.external_url:
            self._check_connection(timeout=10)
            return self
        if self._proc is not None and self._proc.poll() is None:
            return self
        self._bindir = _find_bindir()  # raises ServerUnavailable: the test skips
        self._user = _server_user()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._base is None:
            self._prepare_base()
        if not (self._data / "PG_VERSION").exists():
            self._initdb()
        if self.port is None:  # keep the port across restart()
            self.port = free_port()
        self._launch()
        return self

    def stop(self) -> None:
        """Stop the server and delete a cluster kept outside ``workdir``."""
        self._shutdown()
        if self._base_is_temp and self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            self._base, self._base_is_temp = None, False

    def restart(self) -> None:
        """Fast shutdown (open connections are cut) and start again on the same port.

        The data is kept: clients see "connection lost" and must reconnect.
        """
        if self.external_url:
            raise ServerUnavailable(f"restart() needs a private cluster; unset {ENV_URL}")
        self._shutdown()
        self._launch()

    def kill(self) -> None:
        """Immediate shutdown (SIGQUIT), as close to a crash as PostgreSQL allows."""
        if self.external_url:
            raise ServerUnavailable(f"kill() needs a private cluster; unset {ENV_URL}")
        stop_process(self._proc, signal.SIGQUIT)
        self._proc = None

    # -- databases -----------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its SQLAlchemy URL."""
        from psycopg import sql

        with self._admin_connection() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return _with_database(self.url, name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, even while clients are connected."""
        from psycopg import sql

        with self._admin_connection() as conn:
            # A test that failed may leave pooled connections open; FORCE
            # (PostgreSQL >= 13) disconnects them instead of failing the drop.
            force = sql.SQL(" WITH (FORCE)") if conn.info.server_version >= 130000 else sql.SQL("")
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)

    # -- internals -----------------------------------------------------------

    @property
    def _data(self) -> Path:
        assert self._base is not None
        return self._base / "data"

    def _prepare_base(self) -> None:
        """Choose where the cluster lives and give it to the server's user.

        Under root the server runs as ``postgres``, which cannot enter a
        directory like pytest's /tmp/pytest-of-root (mode 0700). Then the
        cluster goes into a temporary directory of its own instead.
        """
        base = self.workdir / "pg"
        if self._user is not None and not _traversable_by(self.workdir, self._user):
            base = Path(tempfile.mkdtemp(prefix="postwerk-pg-"))
            self._base_is_temp = True
        base.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            ids = as_user(self._user)
            os.chown(base, ids["user"], ids["group"])
        self._base = base

    def _env(self) -> dict[str, str]:
        # A fixed C locale: no "setlocale failed" warnings on minimal machines,
        # and the same collation everywhere.
        return {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def _initdb(self) -> None:
        assert self._bindir is not None
        command = [
            str(self._bindir / "initdb"),
            "-D",
            str(self._data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",  # a throw-away cluster does not need its files fsynced
        ]
        with open(self.log_path, "ab") as log:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._base,  # the server user may not be allowed into our cwd
                env=self._env(),
                **as_user(self._user),
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed with status {result.returncode}. Log {self.log_path}:\n{log_tail(self.log_path)}"
            )

    def _launch(self) -> None:
        assert self._bindir is not None and self.port is not None
        self._proc = spawn(
            [
                self._bindir / "postgres",
                "-D",
                self._data,
                "-p",
                str(self.port),
                # TCP on loopback only; an empty socket directory list turns the
                # Unix socket off, so no socket path (length, permissions) to manage.
                "-k",
                "",
                "-c",
                "listen_addresses=127.0.0.1",
                # Durability off: much faster, and the cluster is thrown away.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            self.log_path,
            user=self._user,
            death_signal="QUIT",  # if the tests die, shut down at once
            cwd=self._base,
            env=self._env(),
        )
        self._check_connection(timeout=30)

    def _shutdown(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown (pg_ctl stop -m fast):
        # roll back open transactions, disconnect clients, checkpoint, exit.
        stop_process(self._proc, signal.SIGINT, timeout=30)
        self._proc = None

    def _check_connection(self, timeout: float) -> None:
        import psycopg

        last_error: list[str] = []

        def connects() -> bool:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return True
            except psycopg.OperationalError as exc:
                last_error[:] = [str(exc).strip()]
                return False

        where = f"${ENV_URL}" if self.external_url else f"127.0.0.1:{self.port}"
        try:
            wait_until_ready(
                connects,
                what=f"PostgreSQL at {where}",
                proc=self._proc,
                log_path=self.log_path,
                timeout=timeout,
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\nLast connection error: {''.join(last_error)}") from None

    def _admin_connection(self):
        import psycopg

        # CREATE/DROP DATABASE cannot run inside a transaction block.
        return psycopg.connect(self.dsn(), autocommit=True)

    def log(self) -> str:
        return log_tail(self.log_path)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
