"""Addresses and file names where they enter (issue 16, item 10)."""

from __future__ import annotations

import copy
import email.policy
from email.parser import BytesParser

import pytest

from core import api_tokens
from core.extensions import db
from core.models import Event
from plugins.ticket import service
from plugins.ticket.models import TicketAttachment
from tests.helpers import login
from tests.test_http_api import TICKET


@pytest.fixture
def token(tenant):
    _, value = api_tokens.create(tenant.id, "ERP", actor="test")
    db.session.commit()
    return value


@pytest.mark.parametrize(
    "where, value, field",
    [
        (("reporter", "email"), "not an address", "payload.ticket.reporter.email"),
        (("reporter", "email"), "erika@example.org, evil@example.net", "payload.ticket.reporter.email"),
        (("reporter", "email"), "erika@example.org\r\nBcc: evil@example.net", "payload.ticket.reporter.email"),
        (("watchers",), ["ok@example.org", "nope"], "payload.ticket.watchers[1]"),
        (("watchers",), [7], "payload.ticket.watchers[0]"),
    ],
)
def test_payload_addresses_are_validated_at_the_api(tenant, token, client, where, value, field):
    payload = copy.deepcopy(TICKET)
    node = payload["ticket"]
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    response = client.post(
        "/api/v1/events",
        json={"event": "TICKET_CREATED", "payload": payload},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422 and response.json["field"] == field, response.json
    assert db.session.execute(db.select(Event)).first() is None


def test_valid_and_empty_addresses_still_pass(tenant, token, client):
    payload = copy.deepcopy(TICKET)
    payload["ticket"]["watchers"] = ["w@example.org", "jürgen@bücher.example"]
    payload["ticket"]["reporter"]["email"] = ""
    response = client.post(
        "/api/v1/events",
        json={"event": "TICKET_CREATED", "payload": payload},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 202, response.json


def test_an_rfc2231_file_name_with_cr_lf_is_cleaned_and_downloads(tenant, client):
    raw = (
        b"From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=UTF-8''bad%0D%0ASet-Cookie%3A%20x%3D1.txt\r\n\r\n"
        b"data\r\n--b--\r\n"
    )
    part = BytesParser(policy=email.policy.default).parsebytes(raw).get_payload()[1]
    assert "\r\n" in part.get_filename()
    ticket = service.create_ticket(
        tenant.id, title="t", description="", reporter_name="E", reporter_email="e@example.org", reporter_language="de"
    )
    service.add_attachment(tenant.id, ticket.id, part.get_filename(), "text/plain", b"data")
    db.session.commit()
    row = db.session.execute(db.select(TicketAttachment)).scalar_one()
    assert row.filename == "bad Set-Cookie: x=1.txt"
    # A row stored before the cleaning: the download still answers.
    row.filename = "old\r\nname.txt"
    db.session.commit()
    login(client)
    response = client.get(f"/tickets/{ticket.id}/attachments/{row.id}")
    assert response.status_code == 200 and "\n" not in response.headers["Content-Disposition"]
