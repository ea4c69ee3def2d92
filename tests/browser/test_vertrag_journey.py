"""In a real browser: enable the vertrag plugin, sign a contract, see both parties' mails."""

from __future__ import annotations

import pytest

from core.extensions import db
from core.models import Message, MessageStatus, Rule
from tests.helpers import ADMIN_PASSWORD, make_tenant

# live_server and browser_page come from tests/browser/conftest.py.
pytestmark = pytest.mark.browser


def test_enable_vertrag_sign_a_contract_and_see_both_mails(ctx, smtp_sink, live_server, browser_page, run_worker):
    tenant = make_tenant("acme", smtp_sink)
    page = browser_page
    page.goto(f"{live_server}/login")
    page.fill("#tenant", "acme")
    page.fill("#email", "admin@acme.example")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")

    page.click("header nav >> text=Settings")
    page.click("nav.subnav >> text=Plugins")
    page.click("#plugin-vertrag button:has-text('Enable vertrag')")
    page.wait_for_selector('#plugin-vertrag[data-enabled="yes"]')
    assert "default rules were created switched off" in page.inner_text("main")

    # Switch the new (inactive) contract rules on, one by one on the rules page.
    page.click("nav.subnav >> text=Mail")
    page.click("nav.subnav >> text=Rules")
    edits = page.locator("tr:has-text('CONTRACT_') a:has-text('Edit')")
    urls = [edits.nth(i).get_attribute("href") for i in range(edits.count())]
    assert urls
    for url in urls:
        page.goto(live_server + url)
        page.check("input[name=active]")
        page.click("#rule-form button[type=submit]")
        page.wait_for_selector("text=Rule saved.")
    db.session.expire_all()
    assert all(
        db.session.execute(
            db.select(Rule.active).where(Rule.tenant_id == tenant.id, Rule.event.like("CONTRACT_%"))
        ).scalars()
    )

    page.click("nav >> text=Contracts")
    form = page.locator("#new-contract")
    for field, value in {
        "number": "MV-2026-017",
        "property_address": "Lindenstraße 5, 10115 Berlin",
        "start_date": "2026-12-01",
        "rent": "850,00",
        "mieter_salutation": "Ms",
        "mieter_name": "Jane Renter",
        "mieter_email": "jane@example.org",
        "vermieter_salutation": "Herr",
        "vermieter_name": "Hans Vermieter",
        "vermieter_email": "hans@example.org",
    }.items():
        form.locator(f"#{field}").fill(value)
    form.locator("#mieter_language").select_option("en")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=Contract MV-2026-017 created.")
    page.click("button:has-text('Mark as signed')")
    page.wait_for_selector("#contract-status:has-text('signed')")

    run_worker()
    page.click("header nav >> text=Settings")
    page.click("nav.subnav >> text=Queue")
    page.fill("#queue-filter input[name=event]", "CONTRACT_SIGNED")
    page.click("#queue-filter button[type=submit]")
    queue = page.locator("table.queue tbody")
    jane = queue.locator("tr:has-text('jane@example.org')")
    hans = queue.locator("tr:has-text('hans@example.org')")
    assert "Rental contract MV-2026-017 signed" in jane.inner_text() and "Sent" in jane.inner_text()
    assert "Mietvertrag MV-2026-017 unterschrieben" in hans.inner_text() and "Sent" in hans.inner_text()
    signed = db.session.execute(
        db.select(Message.recipients, Message.status).where(Message.event_key == "CONTRACT_SIGNED")
    ).all()
    assert sorted(signed) == [(["hans@example.org"], MessageStatus.SENT), (["jane@example.org"], MessageStatus.SENT)]
    assert {tuple(m.rcpt_tos) for m in smtp_sink.wait_for(4)} == {("jane@example.org",), ("hans@example.org",)}
