"""The web face's headers and cookie (issue 16, item 9)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.config import finalise
from tests.conftest import ENCRYPTION_KEY
from tests.helpers import login

ROOT = Path(__file__).resolve().parent.parent


def _check(response):
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp or "script-src 'none'" in csp, response.request.path
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/",
        "/settings/admin/mail/settings",
        "/settings/admin/mail/templates",
        "/tickets/",
        "/no-such-page",
        "/static/admin.js",
        "/api/v1/openapi.json",
    ],
)
def test_every_page_has_the_security_headers(tenant, client, path):
    login(client)
    response = client.get(path)
    _check(response)
    response.close()


def test_public_pages_and_refusals_have_them_too(tenant, client):
    _check(client.get("/t/acme/inquiry"))  # 404 or the form: headers either way
    _check(client.post("/api/v1/events", json={}))


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_outside_development(tenant, client, tmp_path):
    response = login(client)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    production = finalise({"SECRET_KEY": "k", "ENCRYPTION_KEYS": [ENCRYPTION_KEY]}, str(tmp_path))
    assert production["SESSION_COOKIE_SECURE"] is True
    development = finalise(
        {"POSTWERK_ENV": "development", "SECRET_KEY": "k", "ENCRYPTION_KEYS": [ENCRYPTION_KEY]}, str(tmp_path)
    )
    assert development["SESSION_COOKIE_SECURE"] is False


def test_no_template_has_inline_script_or_event_handlers():
    """CSP forbids inline script: every script is a static file of the app."""
    offenders = []
    for template in [*ROOT.glob("core/**/templates/**/*.html"), *ROOT.glob("plugins/**/templates/**/*.html")]:
        text = template.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text, re.I):
            if "src=" not in match.group(0):
                offenders.append(f"{template}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text, re.I) or "javascript:" in text.lower():
            offenders.append(f"{template}: event handler attribute or javascript: URL")
    assert offenders == []
