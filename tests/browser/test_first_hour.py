"""The admin's first hour (issue 17), in English and in German, in Chromium.

Log in with the browser's language, save the SMTP settings as they are and
see the connection tried by itself (first against a port where nothing
listens, then against a real SMTP server), dry run a rule that is still off,
write a template with the placeholders the editor offers, switch the rule
on in the list, delete it and undo the delete. A screenshot at each
step (test-artifacts/screenshots/*-first-hour-*.png).
"""

from __future__ import annotations

import pytest

from core.extensions import db
from core.models import Rule
from tests.helpers import ADMIN_PASSWORD, make_tenant, point_at
from tests.support.ports import free_port

pytestmark = pytest.mark.browser
MAIL = "/settings/admin/mail"
# CodeMirror ignores Enter for 75 ms after its completion list opens (interactionDelay), so
# that a key pressed just as the list appears is not taken as a choice; a person is slower.
CHOOSE_DELAY_MS = 150

WORDS = {
    "en": {
        "start": "Start page",
        "no_connection": "No connection.",
        "works": "Connection works.",
        "off": "(rule is off)",
        "switch_on": "Switch on",
        "deleted": "Rule deleted.",
        "undo": "Undo",
        "restored": "Restored.",
        "run": "Run dry run",
        "refused": "no SMTP server answered",
        "nothing": "Nothing was saved.",
    },
    "de": {
        "start": "Startseite",
        "no_connection": "Keine Verbindung.",
        "works": "Verbindung funktioniert.",
        "off": "(Regel ist aus)",
        "switch_on": "Einschalten",
        "deleted": "Regel gelöscht.",
        "undo": "Rückgängig",
        "restored": "Wiederhergestellt.",
        "run": "Probelauf starten",
        "refused": "kein SMTP-Server hat geantwortet",
        "nothing": "Nichts wurde gespeichert.",
    },
}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_first_hour(app, ctx, live_server, browser_page, shoot, smtp_sink, language):
    from playwright.sync_api import expect

    tenant = make_tenant("acme", plugins=("ticket", "homepage"), activate_rules=False, language="de")
    point_at(tenant.id, smtp_sink, port=free_port())  # a port where nothing listens
    words = WORDS[language]
    context = browser_page.context.browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="de-DE" if language == "de" else "en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)

    def snap(name):
        shoot(f"first-hour-{language}-{name}", page)

    page.goto(live_server + "/login")
    snap("login")
    page.fill("input[name=tenant]", "acme")
    page.fill("input[name=email]", "admin@acme.example")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text(words["start"])
    snap("start")

    # Save the settings untouched: saved, and the connection is tried by itself.
    page.goto(live_server + MAIL + "/settings")
    page.click("#save-settings")
    result = page.locator("#after-save-check")
    expect(result).to_contain_text(words["no_connection"])
    expect(result).to_contain_text(words["refused"])
    snap("settings-no-connection")
    # A refused save says so at the top and links the field.
    page.fill("input[name=sender_address]", "noreply@demo.postwerk.test")  # the browser accepts it, the server not
    page.click("#save-settings")
    summary = page.locator("#form-errors")
    expect(summary).to_contain_text(words["nothing"])
    summary.locator('a[href="#sender_address"]').click()
    snap("settings-refused")
    page.fill("input[name=sender_address]", "noreply@acme.example")
    page.fill("input[name=port]", str(smtp_sink.port))
    page.click("#save-settings")
    expect(page.locator("#after-save-check")).to_contain_text(words["works"])
    snap("settings-works")

    page.goto(live_server + MAIL)
    snap("mail-overview")

    # A rule that is still off: the dry run shows its mail, marked.
    rule = db.session.execute(db.select(Rule).where(Rule.event == "TICKET_CREATED")).scalars().first()
    page.goto(f"{live_server}{MAIL}/rules/dryrun?rule={rule.id}")
    page.locator("#dryrun-form button[type=submit]").click()
    expect(page.locator(".rule-off")).to_have_text(words["off"])
    expect(page.locator(".dry-subject").first).not_to_be_empty()
    snap("dry-run-off")

    # A template in the editor: the event's placeholders are offered after "{{", the preview follows.
    page.goto(live_server + MAIL + "/templates/new")
    page.select_option("select[name=event]", "TICKET_CREATED")
    expect(page.locator("#placeholders")).to_contain_text("ticket.title")
    offered = page.locator(".cm-tooltip-autocomplete [role=option]")
    page.locator(".code-editor-line .cm-content").click()
    page.keyboard.type("{{ ticket.tit")
    expect(offered.first).to_have_text("ticket.title")
    page.wait_for_timeout(CHOOSE_DELAY_MS)
    page.keyboard.press("Enter")
    expect(page.locator("input[name=subject]")).to_have_value("{{ ticket.title }}")
    expect(page.locator("#preview-subject")).not_to_be_empty()
    page.locator(".code-editor:not(.code-editor-line) .cm-content").first.click()
    page.keyboard.type("<p>{{ ticket.reporter.na")
    expect(offered.first).to_have_text("ticket.reporter.name")
    snap("template-editor")
    page.wait_for_timeout(CHOOSE_DELAY_MS)
    page.keyboard.press("Enter")
    expect(page.locator("textarea[name=body_html]")).to_have_value("<p>{{ ticket.reporter.name }}</p>")
    # Laid out, not only loaded: the blank HTML preview of issue 17 had its text but no box.
    expect(page.frame_locator("#preview-html").locator("p")).to_be_visible()
    snap("template-preview")

    # Switch it on in the list; delete it; undo.
    page.goto(live_server + MAIL + "/rules")
    snap("rules")
    row = page.locator("tr", has=page.locator(f'a[href$="id={rule.id}"]')).first
    row.get_by_role("button", name=words["switch_on"]).click()
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).active
    page.on("dialog", lambda dialog: dialog.accept())
    row = page.locator("tr", has=page.locator(f'a[href$="id={rule.id}"]')).first
    row.locator("button.danger").click()
    expect(page.locator(".flash.undo")).to_contain_text(words["deleted"])
    snap("rule-deleted")
    page.locator("#undo").click()
    expect(page.locator(".flash.success")).to_contain_text(words["restored"])
    db.session.expire_all()
    assert db.session.get(Rule, rule.id) is not None
    snap("rule-restored")

    # The public inquiry form in the browser's language.
    page.goto(live_server + "/t/acme/inquiry")
    expect(page.locator("html")).to_have_attribute("lang", language)
    snap("inquiry-form")
    context.close()
