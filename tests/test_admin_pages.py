"""The mail admin's pages and forms, through the Flask test client."""
from __future__ import annotations

import re

import pytest

from core.extensions import db
from core.models import AuditEntry, MailSettings, Message, MessageStatus, Rule, Template
from tests.helpers import csrf_token, login, make_tenant

BASE = "/settings/admin/mail"


@pytest.fixture
def admin(client, tenant):
    login(client)
    return client


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def post(client, url, data, *, token_from=None, status=302):
    html = page(client, token_from or url.rsplit("/", 1)[0] or BASE)
    response = client.post(url, data={"csrf_token": csrf_token(html), **data})
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response


def test_every_page_renders(admin):
    for path in ("", "/settings", "/templates", "/templates/new", "/rules", "/rules/new", "/rules/dryrun",
                 "/queue", "/log", "/audit"):
        page(admin, BASE + path)
