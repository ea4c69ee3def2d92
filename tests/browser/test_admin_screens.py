"""Every admin page once in English and once in German, as screenshots
(test-artifacts/screenshots/screens-*.png) with JavaScript switched off:
the pages must work without it, and someone looks at the pictures."""

from __future__ import annotations

from datetime import date

import pytest

from core import distribution_lists
from core.extensions import db
from core.models import Message, MessageStatus, Rule, Template
from tests.helpers import ADMIN_PASSWORD, make_tenant

pytestmark = pytest.mark.browser
MAIL = "/settings/admin/mail"


def _content(tenant, smtp_sink):
    """One of everything the pages list."""
    from core.mail import mime
    from plugins.homepage.service import submit_inquiry
    from plugins.inbound_mail.models import Mailbox
    from plugins.ticket.service import create_ticket
    from plugins.vertrag.service import create_contract

    distribution_lists.save(tenant.id, "office", "office@acme.example, boss@acme.example")
    ticket = create_ticket(
        tenant.id,
        title="Heating broken in flat 3",
        description="No hot water since Monday.",
        reporter_name="Erika Mustermann",
        reporter_email="erika@example.org",
    )
    create_contract(
        tenant.id,
        number="MV-2026-017",
        property_address="Lindenstraße 5, 10115 Berlin",
        start_date=date(2026, 12, 1),
        rent="850,00",
        mieter_salutation="Ms",
        mieter_name="Jane Renter",
        mieter_email="jane@example.org",
        vermieter_salutation="Herr",
        vermieter_name="Hans Vermieter",
        vermieter_email="hans@example.org",
    )
    submit_inquiry(
        tenant.id,
        name="Max Interessent",
        email="max@example.org",
        phone="030 123456",
        message="Is the flat in Lindenstraße still available?",
    )
    db.session.add(Mailbox(tenant_id=tenant.id, name="Service", host="imap.acme.example", username="service"))
    db.session.add(
        Rule(
            tenant_id=tenant.id,
            name="Office copy",
            event="TICKET_CREATED",
            recipient="list:office",
            template_key="ticket_created",
            active=True,
        )
    )
    message = Message(
        tenant_id=tenant.id,
        message_id=mime.new_message_id("noreply@acme.example"),
        sender="noreply@acme.example",
        recipients=["erika@example.org"],
        subject="Failed on purpose",
        body_text="Text",
        body_html="<p>Html</p>",
        status=MessageStatus.FAILED,
        event_key="TICKET_CREATED",
        last_error="550 5.1.1 no such user",
    )
    db.session.add(message)
    db.session.commit()
    return ticket, message


def test_every_admin_page_in_english_and_german(app, ctx, live_server, browser_page, shoot, smtp_sink):
    tenant = make_tenant("acme", smtp_sink, plugins=("ticket", "vertrag", "homepage", "inbound_mail"), language="en")
    ticket, message = _content(tenant, smtp_sink)
    template = db.session.execute(db.select(Template).where(Template.tenant_id == tenant.id)).scalars().first()
    rule = db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id)).scalars().first()
    from plugins.inbound_mail.models import Mailbox
    from plugins.vertrag.models import Contract

    mailbox = db.session.execute(db.select(Mailbox.id)).scalar_one()
    contract = db.session.execute(db.select(Contract.id)).scalar_one()
    pages = {
        "overview": MAIL,
        "settings": MAIL + "/settings",
        "templates": MAIL + "/templates",
        "template-edit": f"{MAIL}/templates/edit?id={template.id}",
        "rules": MAIL + "/rules",
        "rule-edit": f"{MAIL}/rules/edit?id={rule.id}",
        "dry-run": f"{MAIL}/rules/dryrun?rule={rule.id}",
        "queue": MAIL + "/queue",
        "body": f"{MAIL}/queue/body?id={message.id}",
        "logs": MAIL + "/log",
        "audit": MAIL + "/audit",
        "lists": MAIL + "/lists/",
        "plugins": "/settings/admin/plugins/",
        "automate": "/settings/admin/automate/",
        "tokens": "/settings/admin/api-tokens/",
        "inbound": "/settings/admin/inbound/",
        "inbound-edit": f"/settings/admin/inbound/{mailbox}/edit",
        "tickets": "/tickets/",
        "ticket": f"/tickets/{ticket.id}",
        "contracts": "/contracts/",
        "contract": f"/contracts/{contract}",
        "inquiries": "/inquiries/",
        "home": "/",
    }
    browser = browser_page.context.browser
    for locale in ("en-GB", "de-DE"):
        context = browser.new_context(viewport={"width": 1360, "height": 900}, locale=locale, java_script_enabled=False)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(live_server + "/login")
        page.fill("input[name=tenant]", "acme")
        page.fill("input[name=email]", "admin@acme.example")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(live_server + "/")
        for name, path in pages.items():
            response = page.goto(live_server + path)
            assert response.status == 200, (path, response.status)
            assert page.locator("header.topbar").count() == 1, path
            if path.startswith("/settings/admin"):
                assert page.locator("nav.subnav").count() >= 1, path
            shoot(f"screens-{locale[:2]}-{name}", page)
        context.close()
