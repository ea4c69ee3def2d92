"""The SMTP settings' sending options in a real browser: a provider preset,
the OAuth2 section, the port following the security choice."""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN_PASSWORD, make_tenant

pytestmark = pytest.mark.browser


def test_microsoft_365_preset_and_oauth2(app, ctx, live_server, browser_page, shoot, smtp_sink):
    from playwright.sync_api import expect

    make_tenant("acme", smtp_sink, plugins=("ticket",), activate_rules=False, language="en")
    page = browser_page
    page.goto(live_server + "/login")
    page.fill("input[name=tenant]", "acme")
    page.fill("input[name=email]", "admin@acme.example")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.goto(live_server + "/settings/admin/mail/settings")
    # Only the chosen login's fields are shown (auth "none": neither POP3 nor OAuth2).
    expect(page.locator("input[name=pop3_host]")).to_be_hidden()
    expect(page.locator("#oauth-section")).to_be_hidden()
    shoot("settings-sending-start")

    page.select_option("select[name=preset]", "microsoft365")
    expect(page.locator("#preset-note")).to_contain_text("SMTP AUTH must be enabled")
    page.click("button[name=apply_preset]")
    expect(page.get_by_text("filled in: check the fields")).to_be_visible()
    expect(page.locator("input[name=host]")).to_have_value("smtp.office365.com")
    expect(page.locator("select[name=auth]")).to_have_value("oauth2")
    expect(page.locator("#oauth-section")).to_be_visible()
    expect(page.locator("#oauth-link")).to_have_count(0)  # only once the client id is saved
    page.fill("input[name=username]", "post@acme.example")
    page.fill("input[name=oauth_tenant]", "contoso.onmicrosoft.com")
    page.fill("input[name=oauth_client_id]", "11111111-2222-3333-4444-555555555555")
    page.fill("input[name=oauth_client_secret]", "client-secret-value")
    page.click("#save-settings")
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.locator("#oauth-link")).to_have_text("Link account")
    expect(page.locator("input[name=oauth_client_secret]")).to_have_value("")
    expect(page.locator("input[name=oauth_client_secret]")).to_have_attribute(
        "placeholder", "stored — leave empty to keep it"
    )
    shoot("settings-sending-microsoft365-oauth2")

    # Switching to SSL/TLS moves the usual STARTTLS port to 465; POP3 fields appear for POP-before-SMTP.
    page.select_option("select[name=security]", "ssl")
    expect(page.locator("input[name=port]")).to_have_value("465")
    page.select_option("select[name=auth]", "pop_before_smtp")
    expect(page.locator("input[name=pop3_host]")).to_be_visible()
    expect(page.locator("#oauth-section")).to_be_hidden()
    shoot("settings-sending-pop-before-smtp")
