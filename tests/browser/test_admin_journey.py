"""A new admin's first day, in a real browser (Playwright + Debian's Chromium).

Log in, point SMTP at a local aiosmtpd, send a test mail, write a template
(and see the suggestion for a misspelled placeholder), create a rule, dry
run it, create a ticket and follow its mail through the queue: PENDING,
SENT, then FAILED when the server refuses, and SENT again after a resend.
"""

from __future__ import annotations

import re

import pytest

from core.extensions import db
from core.models import Message, MessageStatus
from tests.helpers import ADMIN_PASSWORD, drain, make_tenant

pytestmark = pytest.mark.browser
MAIL = "/settings/admin/mail"


def report_ticket(page, live_server, title):
    from playwright.sync_api import expect

    page.goto(live_server + "/tickets/")
    form = page.locator("form:has(input[name=title])")
    form.locator("input[name=title]").fill(title)
    form.locator("input[name=reporter_name]").fill("Erika Mustermann")
    form.locator("input[name=reporter_email]").fill("erika@example.org")
    form.locator("select[name=reporter_language]").select_option("en")
    form.locator("button[type=submit]").click()
    expect(page.get_by_text(re.compile(r"Ticket #\d+ created"))).to_be_visible()


def fill_code(page, field: str, text: str) -> None:
    """Replace the text of a template field, in the code editor that stands in for it."""
    page.locator(f"{field} + .code-editor .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def test_a_new_admin_sets_up_mail_and_follows_it_through_the_queue(
    app, ctx, live_server, browser_page, shoot, smtp_sink
):
    from playwright.sync_api import expect

    make_tenant("acme", plugins=("ticket",), activate_rules=False, language="en")
    page = browser_page

    # Log in.
    page.goto(live_server + "/login")
    shoot("login")
    page.fill("input[name=tenant]", "acme")
    page.fill("input[name=email]", "admin@acme.example")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.goto(live_server + MAIL)
    expect(page.locator("h1")).to_have_text("Mail")
    expect(page.locator("#waits")).to_contain_text("no SMTP server is configured")
    shoot("overview-empty")

    # SMTP settings pointing at the local aiosmtpd.
    page.click("nav.subnav >> text=SMTP settings")
    page.fill("input[name=host]", smtp_sink.host)
    page.fill("input[name=port]", str(smtp_sink.port))
    page.select_option("select[name=security]", "none")
    page.fill("input[name=sender_address]", "noreply@acme.example")
    page.fill("input[name=sender_name]", "Acme Hausverwaltung")
    page.click("#save-settings")
    expect(page.get_by_text("Settings saved.")).to_be_visible()

    # A test mail, and it arrives.
    page.fill("input[name=recipient]", "me@acme.example")
    page.click("#test-mail button[type=submit]")
    expect(page.locator("#test-outcome")).to_contain_text("Sent.")
    expect(page.locator("#test-outcome")).to_contain_text("250")
    shoot("settings-test-mail-sent")
    (test_mail,) = smtp_sink.wait_for(1)
    assert test_mail.rcpt_tos == ["me@acme.example"]

    # A template with a misspelled placeholder: the editor suggests the right one.
    page.click("nav.subnav >> text=Templates")
    shoot("templates")
    page.click("text=New template")
    page.fill("input[name=key]", "ticket_thanks")
    page.select_option("select[name=language]", "en")
    page.select_option("select[name=event]", "TICKET_CREATED")
    expect(page.locator("#placeholders")).to_contain_text("ticket.reporter.name")
    fill_code(page, "input[name=subject]", "Thanks for ticket #")
    page.locator("#placeholders .chip", has_text=re.compile(r"^ticket\.id$")).click()
    expect(page.locator("input[name=subject]")).to_have_value("Thanks for ticket #{{ ticket.id }}")
    fill_code(
        page, "textarea[name=body_html]", "<p>Hello {{ ticket.reporter.nmae }},</p>\n<p>we got {{ ticket.title }}.</p>"
    )
    expect(page.locator("#live-problems")).to_contain_text("did you mean 'ticket.reporter.name'?")
    expect(page.locator("#preview-subject")).to_have_text("Thanks for ticket #123")
    page.click("button[value=save]")
    expect(page.locator("#problems")).to_contain_text(
        "unknown placeholder 'ticket.reporter.nmae' — did you mean 'ticket.reporter.name'?"
    )
    expect(page.locator("#problems")).to_contain_text("line 1")
    shoot("template-misspelled-placeholder")
    fill_code(
        page, "textarea[name=body_html]", "<p>Hello {{ ticket.reporter.name }},</p>\n<p>we got {{ ticket.title }}.</p>"
    )
    expect(page.frame_locator("#preview-html").locator("body")).to_contain_text(
        "Hello Jane Doe"
    )  # English samples for an English template
    page.click("button[value=save]")
    expect(page.get_by_text("Template saved.")).to_be_visible()
    expect(page.locator("#preview-subject")).to_have_text("Thanks for ticket #123")  # rendered by the server
    expect(page.frame_locator("#preview-html").locator("body")).to_contain_text("we got Bathroom heating is out")
    shoot("template-saved-with-preview")

    # A rule: on TICKET_CREATED send ticket_thanks to the reporter.
    page.click("nav.subnav >> text=Rules")
    page.click("text=New rule")
    page.fill("input[name=name]", "Thank the reporter")
    page.select_option("select[name=event]", "TICKET_CREATED")
    page.check("input[name=recipient_kind][value=role]")
    page.select_option("select[name=recipient_role]", "reporter")
    page.select_option("select[name=template_key]", "ticket_thanks")
    shoot("rule-new")
    page.click("#rule-form button[type=submit]")
    expect(page.get_by_text("Rule saved.")).to_be_visible()
    shoot("rules")

    # A dry run of the event with all its rules: ours fires, the default one is off.
    page.click("main .heading >> text=Dry run")
    page.select_option("select[name=target]", "event:TICKET_CREATED")
    page.select_option("select[name=source]", "sample")
    page.click("#dryrun-form button[type=submit]")
    expect(page.locator(".dry-rule", has_text="Thank the reporter")).to_contain_text("would fire")
    expect(page.locator(".dry-rule", has_text="Thank the reporter")).to_contain_text("Thanks for ticket #123")
    expect(page.locator(".dry-rule", has_text="Confirm a new ticket")).to_contain_text("the rule is switched off")
    shoot("dry-run")
    assert db.session.execute(db.select(db.func.count()).select_from(Message)).scalar() == 0

    # A ticket: its mail waits as PENDING, then the worker sends it.
    report_ticket(page, live_server, "Heating broken")
    shoot("ticket-created")
    drain(app)  # expands the event into a PENDING message and sends it
    sent_id = db.session.execute(db.select(Message.id)).scalar_one()

    # The queue shows it; to see PENDING first, a second ticket waits for a worker.
    report_ticket(page, live_server, "Window stuck")
    from core.mail.jobs import expand_events

    expand_events(1)  # expansion only: the message is written PENDING, the deliverer has not run
    page.goto(live_server + MAIL + "/queue")
    pending_row = page.locator("tbody tr").first
    expect(pending_row).to_contain_text("Waiting")
    expect(page.locator(f"#message-{sent_id}")).to_contain_text("Sent")
    shoot("queue-pending")
    drain(app)
    page.reload()
    expect(pending_row).to_contain_text("Sent")
    shoot("queue-sent")
    assert len(smtp_sink.wait_for(3)) == 3

    # The server refuses: the next mail FAILS with the server's reason.
    smtp_sink.behaviour.data_reply = "554 5.7.1 Message rejected by policy"
    report_ticket(page, live_server, "Leaking tap")
    drain(app)
    page.goto(live_server + MAIL + "/queue?status=FAILED")
    failed_row = page.locator("tbody tr").first
    expect(failed_row).to_contain_text("Failed")
    expect(failed_row).to_contain_text("554 5.7.1 Message rejected by policy")
    shoot("queue-failed")
    page.goto(live_server + MAIL)
    expect(page.locator("body")).to_contain_text("554 5.7.1 Message rejected by policy")
    shoot("overview-with-failure")

    # Fixed: resend it, and it goes out as a new message.
    smtp_sink.behaviour.data_reply = None
    page.goto(live_server + MAIL + "/queue?status=FAILED")
    page.locator("tbody tr").first.locator("button", has_text="Resend").click()
    expect(page.get_by_text(re.compile(r"is sent again as message \d+"))).to_be_visible()
    shoot("message-resent")
    page.goto(live_server + MAIL + "/queue")
    expect(page.locator("tbody tr").first).to_contain_text("Waiting")
    drain(app)
    page.reload()
    expect(page.locator("tbody tr").first).to_contain_text("Sent")
    page.locator("tbody tr").first.locator("td a").first.click()
    expect(page.locator("h1")).to_contain_text("Sent")
    expect(page.locator(".facts")).to_contain_text("Resend of")
    expect(page.frame_locator("iframe.mail-html").locator("body")).to_contain_text("Leaking tap")
    shoot("message-body")
    received = smtp_sink.wait_for(4)
    assert received[-1].message["Subject"].startswith("Thanks for ticket #")
    failed = db.session.execute(db.select(Message).where(Message.status == MessageStatus.FAILED)).scalar_one()
    resent = db.session.execute(db.select(Message).where(Message.resend_of_id == failed.id)).scalar_one()
    assert resent.status == MessageStatus.SENT and received[-1].message["Message-ID"] == resent.message_id

    # The log pages.
    page.click("nav.subnav >> text=Logs")
    expect(page.locator("body")).to_contain_text("554 5.7.1")
    shoot("notifications")
    page.click("nav.tabs >> text=Audit")
    expect(page.locator("body")).to_contain_text("Message resent")
    shoot("audit")

    # The same admin with a German browser.
    german = page.context.browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="de-DE", storage_state=page.context.storage_state()
    )
    page = german.new_page()
    page.goto(live_server + MAIL)
    expect(page.locator("nav.subnav.second")).to_contain_text("Warteschlange")
    expect(page.locator("body")).to_contain_text("Letzte Fehler")
    shoot("overview-german", page)
    german.close()
