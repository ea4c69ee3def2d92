"""The template editor's placeholder completion and highlighting, in a real
browser, and the plain fields without JavaScript (issue 17)."""

from __future__ import annotations

import pytest

from tests.helpers import ADMIN_PASSWORD, make_tenant

pytestmark = pytest.mark.browser
NEW = "/settings/admin/mail/templates/new"


def log_in(page, live_server):
    page.goto(live_server + "/login")
    page.fill("input[name=tenant]", "acme")
    page.fill("input[name=email]", "admin@acme.example")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")


def test_typing_a_placeholder_offers_the_events_names(app, ctx, live_server, browser_page, shoot):
    from playwright.sync_api import expect

    make_tenant("acme", plugins=("vertrag",), activate_rules=False, language="en")
    page = browser_page
    log_in(page, live_server)
    page.goto(live_server + NEW)
    page.fill("input[name=key]", "contract_note")
    page.select_option("select[name=event]", "CONTRACT_CREATED")
    expect(page.locator("#placeholders")).to_contain_text("mieter.name")
    body = page.locator("textarea[name=body_html]")
    body.fill("")
    body.click()
    body.press_sequentially("<p>Hello {{ mie")
    offered = page.locator(".completions:visible [role=option]")
    expect(offered.first).to_have_text("mieter.name")
    names = offered.all_text_contents()
    # Names that start with what was typed come first, then those that contain it (vermieter.*).
    starting = [name for name in names if name.startswith("mieter.")]
    assert names[: len(starting)] == starting and "mieter.email" in starting
    assert "vermieter.name" in names[len(starting) :]
    expect(body).to_have_attribute("aria-activedescendant", offered.first.get_attribute("id"))
    shoot("template-editor-completion")
    page.keyboard.press("Enter")
    assert body.input_value() == "<p>Hello {{ mieter.name }}"
    expect(page.locator(".completions:visible")).to_have_count(0)
    # The placeholder is coloured in the layer under the field.
    expect(page.locator(".code-highlight .tok-var")).to_have_text("{{ mieter.name }}")
    expect(page.locator(".code-highlight .tok-html")).to_have_text("<p>")
    # The arrow keys choose another, Escape closes, and the subject offers them too.
    subject = page.locator("input[name=subject]")
    subject.fill("")
    subject.click()
    subject.press_sequentially("Contract {{ vertrag.num")
    expect(page.locator(".completions:visible [role=option]").first).to_have_text("vertrag.number")
    page.keyboard.press("Tab")
    assert subject.input_value() == "Contract {{ vertrag.number }}"
    # The live preview renders what was completed.
    expect(page.locator("#preview-subject")).to_have_text("Contract MV-2026-017")


def test_without_javascript_the_fields_are_plain_and_save(app, ctx, live_server, browser_page):
    from playwright.sync_api import expect

    make_tenant("acme", plugins=("vertrag",), activate_rules=False, language="en")
    page = browser_page.context.browser.new_context(java_script_enabled=False).new_page()
    log_in(page, live_server)
    page.goto(live_server + NEW)
    expect(page.locator(".code-editor")).to_have_count(0)
    page.fill("input[name=key]", "contract_plain")
    page.select_option("select[name=language]", "en")
    page.fill("input[name=subject]", "Contract {{ vertrag.number }}")
    page.fill("textarea[name=body_html]", "<p>Hello {{ mieter.name }}</p>")
    page.select_option("select[name=event]", "CONTRACT_CREATED")
    page.click("button[value=save]")
    expect(page.get_by_text("Template saved.")).to_be_visible()
    page.context.close()
