"""Attachments on outgoing mail: vertrag's signed contract as a PDF, files
through the HTTP API (base64 or a stored file's SHA-256), stored once,
listed on the queue's body page, carried by a resend, removed by retention
with the last message.

Real PDFs: each one is read back with ``pdftotext`` from the mail the
aiosmtpd sink received.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import update

from core import api_tokens
from core.api import MailAttachment, hookimpl, pdf_document
from core.app import create_app
from core.automate.tasks import run_retention
from core.events import emit
from core.extensions import db
from core.models import AttachmentBlob, Event, EventStatus, Message, MessageAttachment
from core.models.types import utcnow
from core.tenancy import tenant_ref
from plugins.vertrag import service
from tests.helpers import csrf_token, drain, make_tenant
from tests.test_admin_pages import BASE, login, page  # noqa: F401
from tests.test_http_api import TICKET
from tests.test_plugin_vertrag import CONTRACT

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is missing")


def pdf_text(content: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True, timeout=30
    ).stdout.decode()


def pdfs(received) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every PDF attached to a received mail."""
    return [
        (part.get_filename(), part.get_content())
        for part in received.message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]


@pytest.fixture
def estate(ctx, smtp_sink):
    return make_tenant("acme", smtp_sink, plugins=("vertrag",))


def _signed(tenant_id: int):
    contract = service.create_contract(tenant_id, **CONTRACT)
    db.session.commit()
    service.sign(tenant_id, contract.id)
    db.session.commit()
    return contract


def _signed_messages() -> list[Message]:
    db.session.expire_all()
    return (
        db.session.execute(db.select(Message).where(Message.event_key == "CONTRACT_SIGNED").order_by(Message.id))
        .scalars()
        .all()
    )


def test_vertrag_attaches_the_signed_contract_as_a_pdf_stored_once(estate, smtp_sink, run_worker):
    _signed(estate.id)
    run_worker()
    signed = [m for m in smtp_sink.messages if pdfs(m)]
    assert sorted(m.rcpt_tos[0] for m in signed) == ["hans@example.org", "jane@example.org"]
    for mail in signed:
        ((name, content),) = pdfs(mail)
        assert name == "Vertrag-MV-2026-017.pdf"
        text = pdf_text(content)
        assert "Mietvertrag MV-2026-017 (unterschrieben)" in text
        assert "Jane Renter <jane@example.org>" in text and "Lindenstraße 5, 10115 Berlin" in text
        assert "Acme GmbH" in text  # the tenant's branding
    # Other events carry nothing.
    assert all(not pdfs(m) for m in smtp_sink.messages if m not in signed)
    # One stored file, referenced by both messages.
    messages = _signed_messages()
    assert [m.attachments for m in messages] == [1, 1]
    (blob,) = db.session.execute(db.select(AttachmentBlob)).scalars().all()
    links = db.session.execute(db.select(MessageAttachment)).scalars().all()
    assert {link.message_pk for link in links} == {m.id for m in messages}
    assert {link.blob_id for link in links} == {blob.id}
    assert blob.sha256 == hashlib.sha256(pdfs(signed[0])[0][1]).hexdigest()


def test_the_body_page_lists_the_file_a_resend_carries_it_and_retention_removes_it_with_the_last_message(
    estate, client, smtp_sink, run_worker
):
    _signed(estate.id)
    run_worker()
    first, second = _signed_messages()
    login(client)
    html = page(client, f"{BASE}/queue/body?id={first.id}")
    assert "Vertrag-MV-2026-017.pdf" in html and "application/pdf" in html
    smtp_sink.clear()
    response = client.post(BASE + "/queue/resend", data={"csrf_token": csrf_token(html), "id": first.id})
    assert response.status_code == 302
    run_worker()
    (again,) = smtp_sink.wait_for(1)
    ((_, content),) = pdfs(again)
    assert "Mietvertrag MV-2026-017" in pdf_text(content)
    assert db.session.execute(db.select(db.func.count()).select_from(AttachmentBlob)).scalar() == 1

    def age(ids):
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(sent_at=utcnow() - timedelta(days=400)))
        db.session.commit()

    resent = [m for m in _signed_messages() if m.resend_of_id == first.id]
    age([first.id, second.id])
    run_retention(estate.id)
    # The resend still carries the file: it stays.
    assert db.session.execute(db.select(db.func.count()).select_from(AttachmentBlob)).scalar() == 1
    age([m.id for m in resent])
    result = run_retention(estate.id)
    assert "1 attachment file(s) no longer used" in result
    assert db.session.execute(db.select(db.func.count()).select_from(AttachmentBlob)).scalar() == 0
    assert db.session.execute(db.select(db.func.count()).select_from(MessageAttachment)).scalar() == 0


@pytest.fixture
def token(tenant):
    _, value = api_tokens.create(tenant.id, "ERP", actor="test")
    db.session.commit()
    return value


def _invoice(tenant) -> bytes:
    return pdf_document(tenant_ref(tenant), "Rechnung 2026-0042", lines=["Betrag: 120,00 EUR"])


def _post(client, token, **extra):
    return client.post(
        "/api/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={"event": "TICKET_CREATED", "payload": TICKET, **extra},
    )


def test_the_api_takes_a_pdf_as_base64_and_later_by_its_sha256(tenant, token, client, smtp_sink, run_worker):
    content = _invoice(tenant)
    response = _post(
        client,
        token,
        attachments=[
            {
                "filename": "Rechnung.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(content).decode(),
            }
        ],
    )
    assert response.status_code == 202, response.json
    response = _post(
        client,
        token,
        attachments=[
            {
                "filename": "Kopie.pdf",
                "content_type": "application/pdf",
                "sha256": hashlib.sha256(content).hexdigest().upper(),
            }
        ],
    )
    assert response.status_code == 202, response.json
    run_worker()
    mails = smtp_sink.wait_for(2)
    assert sorted(name for m in mails for name, _ in pdfs(m)) == ["Kopie.pdf", "Rechnung.pdf"]
    for mail in mails:
        ((_, received),) = pdfs(mail)
        assert received == content and "Rechnung 2026-0042" in pdf_text(received)
    assert db.session.execute(db.select(db.func.count()).select_from(AttachmentBlob)).scalar() == 1


@pytest.mark.parametrize(
    "attachments, status, field, words",
    [
        ("a.pdf", 422, "attachments", "must be a list"),
        (
            [{"filename": "a.pdf", "content_type": "application/pdf", "content_base64": "%%%"}],
            422,
            "attachments[0].content_base64",
            "not valid base64",
        ),
        (
            [{"filename": "a.pdf", "content_type": "application/pdf", "sha256": "ab" * 32}],
            422,
            "attachments[0].sha256",
            "no file with this SHA-256",
        ),
        (
            [{"filename": "../etc/passwd", "content_type": "text/plain", "content_base64": "eA=="}],
            422,
            "attachments[0]",
            "not a plain file name",
        ),
        (
            [{"filename": "a.pdf", "content_type": "pdf", "content_base64": "eA=="}],
            422,
            "attachments[0]",
            "not a MIME type",
        ),
        ([{"filename": "a.pdf", "content_type": "application/pdf"}], 422, "attachments[0]", "exactly one of"),
        (
            [
                {
                    "filename": "big.bin",
                    "content_type": "application/octet-stream",
                    "content_base64": base64.b64encode(b"x" * 2048).decode(),
                }
            ],
            413,
            "attachments",
            "more than 1024 bytes",
        ),
    ],
)
def test_the_api_refuses_bad_attachments_where_they_enter(
    app, tenant, token, client, attachments, status, field, words
):
    app.config["MAX_ATTACHMENT_BYTES"] = 1024
    response = _post(client, token, attachments=attachments)
    assert response.status_code == status, response.json
    assert response.json["field"] == field and words in response.json["error"]
    assert db.session.execute(db.select(Event)).scalars().all() == []
    assert db.session.execute(db.select(AttachmentBlob)).scalars().all() == []


def test_a_file_of_another_tenant_cannot_be_referenced(tenant, token, client, smtp_sink):
    other = make_tenant("other", smtp_sink)
    content = _invoice(other)
    emit(other.id, "TICKET_CREATED", TICKET, attachments=[MailAttachment("r.pdf", "application/pdf", content)])
    db.session.commit()
    response = _post(
        client,
        token,
        attachments=[
            {"filename": "r.pdf", "content_type": "application/pdf", "sha256": hashlib.sha256(content).hexdigest()}
        ],
    )
    assert response.status_code == 422 and "no file with this SHA-256" in response.json["error"]


class BrokenFiles:
    @hookimpl
    def postwerk_mail_attachments(self, tenant, event, payload):
        raise RuntimeError("the archive is away")


@pytest.fixture
def broken_app(config):
    app = create_app(config, extra_plugins={"broken_files": BrokenFiles()})
    with app.app_context():
        yield app
        db.engine.dispose()


def test_a_raising_attachments_hook_holds_the_mail_back_and_names_the_plugin(broken_app, smtp_sink):
    tenant = make_tenant("acme", smtp_sink, plugins=("ticket", "broken_files"))
    event = emit(tenant.id, "TICKET_CREATED", TICKET)
    db.session.commit()
    drain(broken_app)
    db.session.expire_all()
    assert smtp_sink.messages == []  # never without the file
    assert db.session.execute(db.select(Message)).scalars().all() == []
    stored = db.session.get(Event, event.id)
    assert stored.status == EventStatus.FAILED
    assert "plugin 'broken_files' failed in postwerk_mail_attachments" in stored.error


def test_only_the_files_may_make_the_body_large_the_payload_keeps_its_256_kb(tenant, token, client):
    payload = {"ticket": dict(TICKET["ticket"], description="x" * (300 * 1024))}
    response = client.post(
        "/api/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={"event": "TICKET_CREATED", "payload": payload},
    )
    assert response.status_code == 413 and response.json["field"] == "payload", response.json
    assert "256 kB" in response.json["error"]
    content = b"%PDF-1.4 " + b"x" * (1024 * 1024)  # a 1 MB file goes through
    response = _post(
        client,
        token,
        attachments=[
            {
                "filename": "gross.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(content).decode(),
            }
        ],
    )
    assert response.status_code == 202, response.json


# --- the batch form --------------------------------------------------------------------


def _batch(client, token, items):
    return client.post(
        "/api/v1/events/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={"event": "TICKET_CREATED", "items": items},
    )


def _item(n: int, attachments=None) -> dict:
    item = {"payload": {"ticket": dict(TICKET["ticket"], id=n)}}
    if attachments is not None:
        item["attachments"] = attachments
    return item


def test_the_batch_takes_attachments_per_item_and_refuses_a_bad_one_alone(tenant, token, client, smtp_sink, run_worker):
    content = _invoice(tenant)
    pdf = {"filename": "Rechnung.pdf", "content_type": "application/pdf"}
    response = _batch(
        client,
        token,
        [
            _item(1, [dict(pdf, content_base64=base64.b64encode(content).decode())]),
            _item(2, [dict(pdf, content_base64="%%%")]),
            _item(3, [dict(pdf, filename="Kopie.pdf", sha256=hashlib.sha256(content).hexdigest())]),
            _item(4, [dict(pdf, sha256="ab" * 32)]),
            _item(5),
        ],
    )
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted", "rejected", "accepted"]
    assert results[1]["field"] == "items[1].attachments[0].content_base64" and results[1]["code"] == 422
    assert "not valid base64" in results[1]["error"]
    assert (
        results[3]["field"] == "items[3].attachments[0].sha256" and "no file with this SHA-256" in results[3]["error"]
    )
    run_worker()
    mails = smtp_sink.wait_for(3)
    named = {m.message["Subject"]: [name for name, _ in pdfs(m)] for m in mails}
    assert sorted(named.values()) == [[], ["Kopie.pdf"], ["Rechnung.pdf"]]
    for mail in mails:
        for _, received in pdfs(mail):
            assert received == content and "Rechnung 2026-0042" in pdf_text(received)
    assert db.session.execute(db.select(db.func.count()).select_from(AttachmentBlob)).scalar() == 1


def test_the_batch_holds_each_item_to_the_single_forms_limits(app, tenant, token, client):
    app.config["MAX_ATTACHMENT_BYTES"] = 1024
    big = {
        "filename": "big.bin",
        "content_type": "application/octet-stream",
        "content_base64": base64.b64encode(b"x" * 2048).decode(),
    }
    many = [dict(big, content_base64="eA==", filename=f"f{i}.txt") for i in range(21)]
    huge = {"payload": {"ticket": dict(TICKET["ticket"], description="x" * (300 * 1024))}}
    response = _batch(client, token, [_item(1, [big]), _item(2, many), huge, _item(4, "a.pdf"), _item(5)])
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert [(r["status"], r.get("code"), r.get("field")) for r in results] == [
        ("rejected", 413, "items[0].attachments"),
        ("rejected", 413, "items[1].attachments"),
        ("rejected", 413, "items[2].payload"),
        ("rejected", 422, "items[3].attachments"),
        ("accepted", None, None),
    ]
    assert "more than 1024 bytes" in results[0]["error"] and "256 kB" in results[2]["error"]
    assert len(db.session.execute(db.select(Event)).scalars().all()) == 1
    assert db.session.execute(db.select(AttachmentBlob)).scalars().all() == []
    # The whole body: the files may make it larger only up to the web limit.
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config["MAX_ATTACHMENT_BYTES"] = 10 * 1024 * 1024
    large = dict(big, content_base64=base64.b64encode(b"x" * (80 * 1024)).decode())
    response = _batch(client, token, [_item(6, [large])])
    assert response.status_code == 413, response.json


def test_only_the_files_may_make_a_batch_larger_than_its_own_limit(app, tenant, token, client, monkeypatch):
    from core import http_api

    monkeypatch.setattr(http_api, "MAX_BATCH_BODY", 64 * 1024)
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    wordy = [{"payload": {"ticket": dict(TICKET["ticket"], id=n, description="x" * (20 * 1024))}} for n in range(5)]
    response = _batch(client, token, wordy)
    assert response.status_code == 413 and response.json["field"] == "items", response.json
    content = b"%PDF-1.4 " + b"x" * (200 * 1024)  # 270 kB of base64 in one item
    pdf = {"filename": "gross.pdf", "content_type": "application/pdf"}
    response = _batch(client, token, [_item(1, [dict(pdf, content_base64=base64.b64encode(content).decode())])])
    assert response.status_code == 200 and response.json["results"][0]["status"] == "accepted", response.json
