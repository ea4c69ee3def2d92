"""The template editor's placeholder completion and highlighting, in a real
browser, and the plain fields without JavaScript (issue 17)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ADMIN_PASSWORD, make_tenant

pytestmark = pytest.mark.browser
NEW = "/settings/admin/mail/templates/new"
# CodeMirror ignores Enter and Tab for 75 ms after its completion list opens (interactionDelay),
# so that a key pressed just as the list appears is not taken as a choice; a person is slower.
CHOOSE_DELAY_MS = 150


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
    # The editor (CodeMirror) stands in for the field, which stays in the form, hidden.
    field = page.locator("textarea[name=body_html]")
    expect(field).to_be_hidden()
    body = page.locator(".code-editor .cm-content[aria-label='HTML body']")
    body.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    body.press_sequentially("<p>Hello {{ mie")
    offered = page.locator(".cm-tooltip-autocomplete [role=option]")
    expect(offered.first).to_have_text("mieter.name")
    names = offered.all_text_contents()
    # Names that start with what was typed come first, then those that contain it (vermieter.*).
    starting = [name for name in names if name.startswith("mieter.")]
    assert names[: len(starting)] == starting and "mieter.email" in starting
    assert "vermieter.name" in names[len(starting) :]
    expect(body).to_have_attribute("aria-activedescendant", offered.first.get_attribute("id"))
    shoot("template-editor-completion")
    page.wait_for_timeout(CHOOSE_DELAY_MS)
    page.keyboard.press("Enter")
    # The hidden field, which is what the form submits, follows every change
    # (the HTML mode closed the <p> when it was typed).
    expect(field).to_have_value("<p>Hello {{ mieter.name }}</p>")
    expect(page.locator(".cm-tooltip-autocomplete")).to_have_count(0)
    # The placeholder is marked as a whole, and the HTML tag is highlighted as HTML.
    expect(body.locator(".cm-jinja-var").first).to_have_text("{{ mieter.name }}")
    tag = body.locator("span", has_text=re.compile(r"^p$")).first
    assert tag.evaluate("e => getComputedStyle(e).color") != body.evaluate("e => getComputedStyle(e).color")
    # A chip from the list is inserted at the caret, and the field follows.
    page.locator("#placeholders .chip", has_text=re.compile(r"^vertrag\.number$")).click()
    expect(field).to_have_value("<p>Hello {{ mieter.name }}{{ vertrag.number }}</p>")
    # Tab accepts too, and the subject offers the names.
    subject_field = page.locator("input[name=subject]")
    subject = page.locator(".code-editor-line .cm-content")
    subject.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    subject.press_sequentially("Contract {{ vertrag.num")
    expect(page.locator(".cm-tooltip-autocomplete [role=option]").first).to_have_text("vertrag.number")
    page.wait_for_timeout(CHOOSE_DELAY_MS)
    page.keyboard.press("Tab")
    expect(subject_field).to_have_value("Contract {{ vertrag.number }}")
    # The live preview renders what was completed.
    expect(page.locator("#preview-subject")).to_have_text("Contract MV-2026-017")
    # Saving submits the editors' text.
    page.click("button[value=save]")
    expect(page.get_by_text("Template saved.")).to_be_visible()
    expect(page.locator("input[name=subject]")).to_have_value("Contract {{ vertrag.number }}")
    expect(page.locator("textarea[name=body_html]")).to_have_value("<p>Hello {{ mieter.name }}{{ vertrag.number }}</p>")


def test_the_editor_runs_under_the_apps_content_security_policy(app, ctx, live_server, browser_page):
    """No CSP violation and no script error on the editor page (no inline script, no eval)."""
    from playwright.sync_api import expect

    make_tenant("acme", plugins=("vertrag",), activate_rules=False, language="en")
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, live_server)
    response = page.goto(live_server + NEW)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".code-editor .cm-content")).to_have_count(3)
    assert errors == []


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
