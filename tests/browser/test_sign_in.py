"""Password reset and sign-in codes in Chromium, in English and in German
(issue 13). Screenshots: test-artifacts/screenshots/*-sign-in-*.png."""

from __future__ import annotations

import re

import pytest

from core.extensions import db
from core.models import Tenant
from tests.helpers import ADMIN_PASSWORD, make_tenant

pytestmark = pytest.mark.browser

WORDS = {
    "en": {
        "forgot": "Forgot password",
        "sent": "If this account exists",
        "new": "New password",
        "changed": "Your password has been changed",
        "start": "Start page",
        "code": "Sign-in code",
        "wrong": "Wrong code.",
        "account": "Sign-in",
        "recovery": "Write these codes down",
    },
    "de": {
        "forgot": "Passwort vergessen",
        "sent": "Falls dieses Konto existiert",
        "new": "Neues Passwort",
        "changed": "Ihr Passwort wurde geändert",
        "start": "Startseite",
        "code": "Anmeldecode",
        "wrong": "Falscher Code.",
        "account": "Anmeldung",
        "recovery": "Schreiben Sie diese Codes",
    },
}
NEW_PASSWORD = "ein ganz neues Passwort"


def _page(browser_page, language):
    context = browser_page.context.browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="de-DE" if language == "de" else "en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _log_in(page, live_server, password=ADMIN_PASSWORD):
    page.goto(live_server + "/login")
    page.fill("input[name=tenant]", "acme")
    page.fill("input[name=email]", "admin@acme.example")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize("language", ["en", "de"])
def test_password_reset_in_german_and_english(
    app, ctx, live_server, browser_page, shoot, smtp_sink, run_worker, language
):
    from playwright.sync_api import expect

    app.config["RESET_ANSWER_SECONDS"] = 0
    make_tenant("acme", smtp_sink, language=language)
    words = WORDS[language]
    page = _page(browser_page, language)
    page.goto(live_server + "/login")
    page.click("#forgot-password")
    expect(page.locator("h1")).to_have_text(words["forgot"])
    shoot(f"sign-in-{language}-forgot", page)
    page.fill("input[name=tenant]", "acme")
    page.fill("input[name=email]", "admin@acme.example")
    page.click("button[type=submit]")
    expect(page.locator("#reset-sent")).to_contain_text(words["sent"])

    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content()
    link = re.search(r"(http://127\.0\.0\.1:\d+/reset-password/\S+)", text).group(1)
    page.goto(link)
    expect(page.locator("h1")).to_have_text(words["new"])
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=confirm]", NEW_PASSWORD)
    shoot(f"sign-in-{language}-new-password", page)
    page.click("button[type=submit]")
    expect(page.locator(".flash.success")).to_contain_text(words["changed"])
    _log_in(page, live_server, NEW_PASSWORD)
    expect(page.locator("h1")).to_have_text(words["start"])
    # The link is spent.
    page.goto(link)
    expect(page.locator(".flash.error")).to_be_visible()
    page.context.close()


@pytest.mark.parametrize("language", ["en", "de"])
def test_sign_in_code_in_german_and_english(
    app, ctx, live_server, browser_page, shoot, smtp_sink, run_worker, language
):
    from playwright.sync_api import expect

    tenant = make_tenant("acme", smtp_sink, language=language)
    db.session.get(Tenant, tenant.id).sign_in_codes = "admins"
    db.session.commit()
    words = WORDS[language]
    page = _page(browser_page, language)
    _log_in(page, live_server)
    expect(page.locator("h1")).to_have_text(words["code"])
    shoot(f"sign-in-{language}-code", page)
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    code = re.search(r"\b(\d{6})\b", mail.message.get_body(("plain",)).get_content()).group(1)
    page.fill("input[name=code]", "000000" if code != "000000" else "111111")
    page.click("#code-submit")
    expect(page.locator(".flash.error")).to_have_text(words["wrong"])
    page.fill("input[name=code]", code)
    page.check("input[name=remember]")
    page.click("#code-submit")
    expect(page.locator("h1")).to_have_text(words["start"])
    assert any(c["name"].startswith("postwerk_remember_") and c["httpOnly"] for c in page.context.cookies())

    # The account page: the policy, and recovery codes shown once.
    page.click("#account-link")
    expect(page.locator("h1")).to_have_text(words["account"])
    page.click("#new-recovery-codes")
    expect(page.locator(".flash.warning")).to_contain_text(words["recovery"])
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    shoot(f"sign-in-{language}-recovery-codes", page)

    # Remembered: the next log-in in this browser asks for no code.
    page.click(".logout button")
    _log_in(page, live_server)
    expect(page.locator("h1")).to_have_text(words["start"])
    page.context.close()
