"""Helpers shared by the tests."""

from __future__ import annotations

import os
import re
import time

from core.extensions import db
from core.models import MailSettings, Message, Rule
from core.plugin_state import set_enabled
from core.tenancy import create_tenant
from core.worker import make_worker
from tests.conftest import ENCRYPTION_KEY

ADMIN_PASSWORD = "correct horse battery"
# A TICKET_CREATED payload for the tests that start real processes and only
# need some mail to flow.
TICKET = {
    "ticket": {
        "id": 1,
        "title": "Heizung",
        "description": "",
        "status": "open",
        "reporter": {"name": "Erika", "email": "erika@example.org", "language": "de"},
    }
}


def make_tenant(slug: str, sink=None, *, plugins=("ticket",), activate_rules=True, language="de"):
    tenant = create_tenant(
        slug,
        slug.title() + " GmbH",
        admin_email=f"admin@{slug}.example",
        admin_password=ADMIN_PASSWORD,
        language=language,
    )
    for name in plugins:
        set_enabled(tenant.id, name, True)
    if activate_rules:
        for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id)).scalars():
            rule.active = True
    if sink is not None:
        point_at(tenant.id, sink)
    db.session.commit()
    return tenant


def point_at(tenant_id: int, sink, **overrides) -> MailSettings:
    settings = db.session.get(MailSettings, tenant_id) or MailSettings(tenant_id=tenant_id)
    values = dict(
        host=sink.host,
        port=sink.port,
        security="none",
        auth="none",
        sender_address=f"noreply@tenant{tenant_id}.example",
        sender_name="",
    )
    values.update(overrides)
    for key, value in values.items():
        setattr(settings, key, value)
    db.session.add(settings)
    db.session.commit()
    return settings


def drain(app, *, rounds: int = 1, wait_retries: bool = False, timeout: float = 30.0) -> None:
    """Run a real RQ worker in burst mode (with its scheduler) until no job is left.

    With ``wait_retries`` it keeps going while retries are scheduled.
    """
    deadline = time.monotonic() + timeout
    worker = make_worker(app)
    while True:
        worker.work(burst=True, with_scheduler=True)
        if not wait_retries:
            break
        with app.app_context():
            pending = db.session.execute(
                db.select(db.func.count()).select_from(Message).where(Message.status.in_(("PENDING", "SENDING")))
            ).scalar()
            db.session.remove()
        if not pending:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} messages still pending after {timeout} s")
        # The next burst's scheduler moves due retries onto the queue.
        time.sleep(0.3)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)


def login(client, slug="acme", email=None, password=ADMIN_PASSWORD):
    page = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        data={
            "csrf_token": csrf_token(page),
            "tenant": slug,
            "email": email or f"admin@{slug}.example",
            "password": password,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def by_recipient(received) -> dict:
    """Received sink messages keyed by their single recipient: {address: (subject, text, html)}."""
    result = {}
    for mail in received:
        (rcpt,) = mail.rcpt_tos
        msg = mail.message
        result[rcpt] = (
            str(msg["Subject"]),
            msg.get_body(("plain",)).get_content(),
            msg.get_body(("html",)).get_content(),
        )
    return result


def process_env(config, secret: str, **extra: str) -> dict[str, str]:
    """The environment of `postwerk` processes a test starts: this test's
    database, Redis and queues, and nothing of the caller's Postwerk or
    Prometheus settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTWERK_", "PROMETHEUS_"))}
    env.update(
        POSTWERK_DATABASE_URL=config["SQLALCHEMY_DATABASE_URI"],
        POSTWERK_REDIS_URL=config["REDIS_URL"],
        POSTWERK_QUEUE_PREFIX=config["QUEUE_PREFIX"],
        POSTWERK_SECRET_KEY=secret,
        POSTWERK_ENCRYPTION_KEY=ENCRYPTION_KEY,
        # The test's SMTP sink is on loopback, which production settings refuse.
        POSTWERK_TARGET_ALLOWLIST="127.0.0.1",
        **extra,
    )
    return env
