"""The admin's first hour (issue 17): what a new admin trips over, one test each."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from core.extensions import db
from core.models import MailSettings
from tests.helpers import csrf_token, login

SETTINGS = "/settings/admin/mail/settings"


class FormValues(HTMLParser):
    """The values a browser would send for the form with ``form_id``, untouched."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.values = form_id, False, {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "file", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.values[a["name"]] = a.get("value", "y" if a.get("type") == "checkbox" else "")
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select:
            if "selected" in a or self._select not in self.values:
                self.values[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.values[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data.lstrip("\n") if not self.values[self._textarea] else data


def form_values(html: str, form_id: str) -> dict:
    parser = FormValues(form_id)
    parser.feed(html)
    return parser.values


@pytest.fixture
def admin(client, tenant):
    login(client)
    return client


def test_the_untouched_demo_settings_save(ctx, client, tmp_path):
    from core.serve import DEMO_ADMIN, DEMO_TENANT, seed_demo

    password = seed_demo(2525, tmp_path / "catcher-port")
    login(client, slug=DEMO_TENANT, email=DEMO_ADMIN, password=password)
    values = form_values(client.get(SETTINGS).get_data(as_text=True), "smtp-settings")
    assert values["sender_address"]
    response = client.post(SETTINGS, data=values, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]


def test_serve_seeds_the_demo_once_and_keeps_the_admins_server(ctx, tmp_path):
    from core.serve import DEMO_TENANT, seed_demo
    from core.tenancy import get_tenant

    port_file = tmp_path / "catcher-port"
    assert seed_demo(2525, port_file)
    tenant_id = get_tenant(DEMO_TENANT).id
    # Still the catcher: a new catcher port follows.
    assert seed_demo(2626, port_file) is None
    assert db.session.get(MailSettings, tenant_id).port == 2626
    settings = db.session.get(MailSettings, tenant_id)
    settings.host, settings.port, settings.security = "smtp.example.org", 587, "starttls"
    db.session.commit()
    seed_demo(2727, port_file)
    db.session.expire_all()
    settings = db.session.get(MailSettings, tenant_id)
    assert (settings.host, settings.port, settings.security) == ("smtp.example.org", 587, "starttls")


def test_a_refused_save_says_so_at_the_top_and_links_each_field(admin, tenant):
    html = admin.get(SETTINGS).get_data(as_text=True)
    values = form_values(html, "smtp-settings")
    values.update(sender_address="not an address", port="0")
    response = admin.post(SETTINGS, data=values, content_type="multipart/form-data")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    summary = html.index('id="form-errors"')
    assert summary < html.index('id="smtp-settings"')
    assert 'href="#sender_address"' in html and 'href="#port"' in html
    assert "Nothing was saved." in html


def _post(client, url, data, token_from):
    html = client.get(token_from).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token(html), **data})


def test_the_dry_run_of_a_rule_still_off_shows_its_mail_marked(admin, tenant):
    from core.models import Message, Rule

    rule = Rule(
        tenant_id=tenant.id,
        name="Not yet",
        event="TICKET_CREATED",
        recipient="role:reporter",
        template_key="ticket_created",
        active=False,
    )
    db.session.add(rule)
    db.session.commit()
    response = _post(
        admin,
        "/settings/admin/mail/rules/dryrun",
        {"target": f"rule:{rule.id}", "source": "sample"},
        "/settings/admin/mail/rules/dryrun",
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "(rule is off)" in html and "erika@example.org" in html
    assert "Heizung im Bad" in html  # the rendered subject of the sample ticket
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).active is False
    assert db.session.execute(db.select(db.func.count()).select_from(Message)).scalar() == 0


MAIL = "/settings/admin/mail"


def _undo_id(html: str) -> str:
    import re

    match = re.search(r'action="/settings/admin/mail/restore">.*?name="id" value="(\d+)"', html, re.S)
    assert match, "no Undo in the flash message"
    return match.group(1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("kind", ["rule", "template", "message"])
def test_a_delete_can_be_undone_from_the_flash_message_and_restored_from_the_audit(admin, tenant, kind):
    from core.mail import mime
    from core.models import AuditEntry, Message, MessageStatus, Rule, Template

    if kind == "rule":
        row = db.session.execute(db.select(Rule)).scalars().first()
        model, list_url, delete_url = Rule, MAIL + "/rules", MAIL + "/rules/delete"
    elif kind == "template":
        row = Template(
            tenant_id=tenant.id, key="spare", language="de", subject="Hallo", body_html="<p>x</p>", body_text=""
        )
        model, list_url, delete_url = Template, MAIL + "/templates", MAIL + "/templates/delete"
    else:
        row = Message(
            tenant_id=tenant.id,
            message_id=mime.new_message_id("noreply@acme.example"),
            sender="noreply@acme.example",
            recipients=["erika@example.org"],
            subject="Hallo",
            body_text="Text",
            body_html="<p>x</p>",
            status=MessageStatus.FAILED,
            event_key="TICKET_CREATED",
        )
        model, list_url, delete_url = Message, MAIL + "/queue", MAIL + "/queue/delete"
    db.session.add(row)
    db.session.commit()
    row_id = row.id
    before = {k: v for k, v in vars(row).items() if not k.startswith("_")}
    response = _post(admin, delete_url, {"id": str(row_id)}, list_url)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(model, row_id) is None
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    entry = _undo_id(html)
    # The audit offers the same.
    audit_page = admin.get(MAIL + "/audit").get_data(as_text=True)
    assert "Restore" in audit_page and "snapshot" not in audit_page
    response = _post(admin, MAIL + "/restore", {"id": entry}, list_url)
    assert response.status_code == 302
    db.session.expire_all()
    again = db.session.get(model, row_id)
    assert again is not None
    assert {
        k: getattr(again, k)
        for k in before
        if k in ("subject", "name", "event", "key", "recipients", "status", "message_id", "recipient", "active")
    } == {
        k: v
        for k, v in before.items()
        if k in ("subject", "name", "event", "key", "recipients", "status", "message_id", "recipient", "active")
    }
    # Once only.
    _post(admin, MAIL + "/restore", {"id": entry}, list_url)
    assert (
        db.session.execute(
            db.select(db.func.count()).select_from(AuditEntry).where(AuditEntry.action == f"{kind}.restored")
        ).scalar()
        == 1
    )


def test_the_audit_shows_changes_in_words_and_only_what_the_admin_changed(admin, tenant):
    from core.models import AuditEntry, Rule

    html = admin.get(SETTINGS).get_data(as_text=True)
    values = form_values(html, "smtp-settings")
    values.update(port="2526", sender_address="office@acme.example")
    assert admin.post(SETTINGS, data=values, content_type="multipart/form-data").status_code == 302
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "mail_settings.saved")).scalar_one()
    assert sorted(entry.detail["changed"]) == ["port", "sender_address"]

    rule = db.session.execute(db.select(Rule)).scalars().first()
    rule.active = False
    db.session.commit()
    edit = admin.get(f"{MAIL}/rules/edit?id={rule.id}").get_data(as_text=True)
    data = form_values(edit, "rule-form")
    data["active"] = "y"
    assert admin.post(MAIL + "/rules/save", data=data).status_code == 302
    audit = admin.get(MAIL + "/audit").get_data(as_text=True)
    assert "active: off → on" in audit
    assert "[False, True]" not in audit and "{" not in audit.split("<main>")[1].split("</main>")[0]


def test_the_audit_names_actions_in_words_and_finds_them_by_those_words(admin, tenant):
    from core.models import AuditEntry, Rule

    rule = db.session.execute(db.select(Rule)).scalars().first()
    edit = admin.get(f"{MAIL}/rules/edit?id={rule.id}").get_data(as_text=True)
    assert admin.post(MAIL + "/rules/save", data=form_values(edit, "rule-form")).status_code == 302
    db.session.add(AuditEntry(tenant_id=tenant.id, actor="system", action="ticket_workspace.moved", object_id="3"))
    db.session.commit()
    audit = admin.get(MAIL + "/audit").get_data(as_text=True)
    main = audit.split("<main>")[1].split("</main>")[0]
    assert ">Rule saved<" in main and 'title="rule.saved"' in main
    assert ">rule.saved<" not in main
    found = admin.get(MAIL + "/audit?q=rule+saved").get_data(as_text=True)
    assert ">Rule saved<" in found

    page = admin.get("/").get_data(as_text=True)
    admin.post("/language", data={"csrf_token": csrf_token(page), "language": "de", "next": "/"})
    german = admin.get(MAIL + "/audit?q=gespeichert").get_data(as_text=True)
    assert ">Regel gespeichert<" in german


def test_every_audit_action_the_core_writes_has_words():
    """The actions are read from the code (every ``audit(...)`` call with a
    literal action), so a new one without words fails here."""
    import ast
    from pathlib import Path

    from core.web.words import ACTION_WORDS, VERB_WORDS

    root = Path(__file__).resolve().parent.parent / "core"
    actions = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "audit":
                if len(node.args) >= 3:
                    argument = node.args[2]
                    values = [argument.body, argument.orelse] if isinstance(argument, ast.IfExp) else [argument]
                    actions |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    assert len(actions) > 40
    wordless = sorted(a for a in actions if a not in ACTION_WORDS and a.rpartition(".")[2] not in VERB_WORDS)
    assert wordless == []


def test_the_rules_list_says_when_an_active_rule_cannot_fire_and_switches_rules(client, ctx, smtp_sink):
    from core.models import Rule
    from tests.helpers import make_tenant

    make_tenant("acme", smtp_sink, plugins=("ticket", "homepage"))
    login(client)
    html = client.get(MAIL + "/rules").get_data(as_text=True)
    office = db.session.execute(db.select(Rule).where(Rule.recipient == "role:office")).scalar_one()
    row = html.split(f"<td>{office.id}</td>")[1].split("</tr>")[0]
    assert "active, but cannot fire" in row and "no recipient found for role:office" in row
    # The switch in the list.
    response = _post(client, MAIL + "/rules/switch", {"id": str(office.id)}, MAIL + "/rules")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Rule, office.id).active is False
    assert (
        "active, but cannot fire"
        not in client.get(MAIL + "/rules").get_data(as_text=True).split(f"<td>{office.id}</td>")[1].split("</tr>")[0]
    )


def test_two_active_rules_with_the_same_event_and_recipient_are_warned_about(admin, tenant):
    from core.models import Rule

    first = db.session.execute(db.select(Rule).where(Rule.event == "TICKET_CREATED")).scalars().first()
    twin = Rule(
        tenant_id=tenant.id,
        name="Another confirmation",
        event=first.event,
        recipient=first.recipient,
        template_key=first.template_key,
        active=False,
    )
    db.session.add(twin)
    db.session.commit()
    response = _post(admin, MAIL + "/rules/switch", {"id": str(twin.id)}, MAIL + "/rules")
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "each recipient gets two mails" in html
    assert f"Same event and recipients as #{first.id}" in html


def test_the_mail_overview_derives_the_sending_state_from_the_last_attempts(admin, tenant):
    from core.mail import mime
    from core.models import Message, MessageStatus

    html = admin.get(MAIL + "/").get_data(as_text=True)
    assert "Ready to send." not in html and "Not tried yet" in html
    assert "(none, none)" not in html and "None (internal relay only)" in html and "No login" in html
    db.session.add(
        Message(
            tenant_id=tenant.id,
            message_id=mime.new_message_id("noreply@acme.example"),
            sender="noreply@acme.example",
            recipients=["erika@example.org"],
            subject="Hallo",
            body_text="x",
            body_html="",
            status=MessageStatus.PENDING,
            attempts=2,
            event_key="TICKET_CREATED",
            last_error="cannot connect to 127.0.0.1:1: Connection refused",
        )
    )
    db.session.commit()
    html = admin.get(MAIL + "/").get_data(as_text=True)
    state = html.split('id="sending-state">')[1].split("</p>")[0]
    assert "Not sending" in state and "Connection refused" in state
    failures = html.split("Recent failures")[1]
    assert "erika@example.org" in failures and "No failures." not in failures


def test_after_saving_smtp_settings_the_page_tries_the_connection_by_itself(admin, tenant):
    from tests.support.ports import free_port

    values = form_values(admin.get(SETTINGS).get_data(as_text=True), "smtp-settings")
    values.update(port=str(free_port()))  # nothing listens there
    response = admin.post(SETTINGS, data=values, content_type="multipart/form-data")
    assert response.status_code == 302 and "saved=1" in response.headers["Location"]
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="after-save-check"' in html and "admin_settings.js" in html
    answer = admin.post(MAIL + "/settings/check.json", data={"csrf_token": csrf_token(html), "id": "check"}).get_json()
    assert answer["ok"] is False and "cannot connect" in answer["words"]


def test_serve_names_the_taken_port_and_its_option_before_printing_anything(tmp_path, monkeypatch):
    import socket

    from click.testing import CliRunner

    from core.cli import main
    from tests.support.ports import free_port

    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            main,
            [
                "serve",
                "--port",
                str(port),
                "--mail-catcher-port",
                str(free_port()),
                "--mail-catcher-http-port",
                str(free_port()),
            ],
        )
    assert result.exit_code != 0
    assert f"--port {port}" in result.output and "Postwerk is running" not in result.output
    assert not (tmp_path / "instance").exists()  # nothing was started or prepared


def test_serve_stops_a_child_that_keeps_exiting_instead_of_restarting_it_for_ever():
    import sys

    from core.serve import MAX_QUICK_EXITS, Child, supervise

    child = Child("web", [sys.executable, "-c", "raise SystemExit(1)"], {})
    child.start()
    assert supervise([child], lambda: False) == 1
    assert child.restarts == MAX_QUICK_EXITS - 1


def test_the_favicon_is_there(client, tenant):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert b"<svg" in response.get_data()
    response.close()


def test_the_public_inquiry_form_follows_the_visitors_browser(client, ctx, smtp_sink):
    from tests.helpers import make_tenant

    make_tenant("acme", smtp_sink, plugins=("homepage",), language="de")
    english = client.get("/t/acme/inquiry", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    german = client.get("/t/acme/inquiry", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en"' in english and '<html lang="de"' in german
    # The form's own switch wins over the browser.
    assert '<html lang="de"' in client.get("/t/acme/inquiry?lang=de", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )


def test_the_mail_catcher_shows_html_text_headers_and_source_by_message_id():
    import smtplib
    from email.message import EmailMessage

    from aiosmtpd.controller import Controller
    from werkzeug.test import Client

    from core.mailcatcher import Catcher
    from tests.support.ports import free_port

    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "a@example.org", "b@example.org", "Hallo"
        mail["Message-ID"] = "<abc123@acme.example>"
        mail.set_content("Der Text-Teil")
        mail.add_alternative("<p>Der <b>HTML</b>-Teil</p>", subtype="html")
        with smtplib.SMTP("127.0.0.1", controller.port) as smtp:
            smtp.send_message(mail)
    finally:
        controller.stop()
    web = Client(catcher.wsgi)
    listing = web.get("/").get_data(as_text=True)
    assert "abc123@acme.example" in listing and "/mail/abc123@acme.example" in listing
    page = web.get("/mail/abc123@acme.example").get_data(as_text=True)
    assert "srcdoc=" in page and "&lt;b&gt;HTML&lt;/b&gt;" in page  # the HTML part, in a sandboxed frame
    assert "Der Text-Teil" in page
    assert "<th>Message-ID</th>" in page and "Content-Type: multipart/alternative" in page
    source = web.get("/mail/abc123@acme.example/source.eml")
    assert source.status_code == 200 and b"Der Text-Teil" in source.get_data()


def _template_form(admin, **fields):
    html = admin.get(MAIL + "/templates/new?event=TICKET_CREATED").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(html),
        "id": "",
        "key": "own_confirmation",
        "language": "de",
        "subject": "Hallo",
        "body_html": "<p>Hallo</p>",
        "body_text": "",
        "event": "TICKET_CREATED",
    }
    data.update(fields)
    return data


def test_the_template_editor_accepts_method_calls_and_macros_and_keeps_did_you_mean(admin, tenant):
    from core.models import Template

    good = _template_form(
        admin,
        body_html="<p>{{ now.strftime('%d.%m.%Y') }}</p>"
        "{% macro hi(n) %}Hallo {{ n }}{% endmacro %}<p>{{ hi(ticket.title) }}</p>",
    )
    response = admin.post(MAIL + "/templates/save", data=dict(good, action="save"))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert db.session.execute(db.select(Template).where(Template.key == "own_confirmation")).scalar_one()
    typo = _template_form(
        admin,
        key="typo",
        subject="{{ ticket.titel }} {{ ticket.titel }}",
        body_html="<p>{{ ticket.description }} {{ ticket.titel }}</p>",
    )
    answer = admin.post(MAIL + "/templates/preview", data=typo).get_json()
    messages = [(p["field"], p["message"]) for p in answer["problems"]]
    assert messages == [
        ("Subject", "unknown placeholder 'ticket.titel' — did you mean 'ticket.title'?"),
        ("HTML body", "unknown placeholder 'ticket.titel' — did you mean 'ticket.title'?"),
    ]
    # The preview renders what it can, the wrong placeholder marked; no developer words.
    preview = answer["preview"]
    assert "Seit gestern" in preview["html"] and "⟦titel?⟧" in preview["html"]
    assert "dict object" not in str(answer) and "has no attribute" not in str(answer)


def test_the_template_editor_hints_at_a_near_duplicate_key_and_a_missing_language(admin, tenant):
    from core.models import Template

    template = db.session.execute(
        db.select(Template).where(Template.key == "ticket_created", Template.language == "en")
    ).scalar_one()
    db.session.delete(template)
    db.session.commit()
    german = db.session.execute(db.select(Template).where(Template.key == "ticket_created")).scalar_one()
    html = admin.get(f"{MAIL}/templates/edit?id={german.id}").get_data(as_text=True)
    assert "exists in DE only: recipients who read EN get this version too" in html
    answer = admin.post(MAIL + "/templates/preview", data=_template_form(admin, key="Ticket-Created")).get_json()
    assert any("ticket_created" in note for note in answer["hints"])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_queue_times_are_in_the_tenants_time_zone_with_the_zone_named(admin, tenant):
    from datetime import datetime, timezone

    from core.mail import mime
    from core.models import Message, MessageStatus

    db.session.add(
        Message(
            tenant_id=tenant.id,
            message_id=mime.new_message_id("noreply@acme.example"),
            sender="noreply@acme.example",
            recipients=["erika@example.org"],
            subject="Hallo",
            body_text="x",
            body_html="",
            status=MessageStatus.FAILED,
            event_key="TICKET_CREATED",
            created_at=datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
        )
    )
    db.session.commit()
    assert "2026-12-01 10:30:00 CET" in admin.get(MAIL + "/queue").get_data(as_text=True)
    overview = admin.get(MAIL + "/").get_data(as_text=True)
    _post(admin, MAIL + "/timezone", {"id": "timezone", "timezone": "Europe/London"}, MAIL + "/")
    assert "2026-12-01 09:30:00 GMT" in admin.get(MAIL + "/queue").get_data(as_text=True)
    assert 'name="timezone"' in overview


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_the_logs_can_be_searched_and_filtered(admin, tenant):
    from core.notify import audit, notify

    notify(tenant.id, "error", "mail to erika@example.org failed for good")
    notify(tenant.id, "warning", "something else")
    audit(tenant.id, "system", "rule.saved", "rule", 1, changes={"name": ["a", "Office copy"]})
    audit(tenant.id, "system", "template.saved", "template", 2, key="other")
    db.session.commit()
    found = admin.get(MAIL + "/log?q=erika").get_data(as_text=True)
    assert "erika@example.org" in found and "something else" not in found
    assert "something else" in admin.get(MAIL + "/log?level=warning").get_data(as_text=True)
    audit_page = admin.get(MAIL + "/audit?q=office+copy").get_data(as_text=True)
    assert "rule.saved" in audit_page and "template.saved" not in audit_page


def test_the_template_preview_can_use_a_real_past_event(admin, tenant):
    from core.models import Event
    from plugins.ticket.service import create_ticket

    create_ticket(
        tenant.id,
        title="Tür klemmt im Keller",
        description="",
        reporter_name="Max",
        reporter_email="max@example.org",
        reporter_language="de",
    )
    db.session.commit()
    event = db.session.execute(db.select(Event)).scalar_one()
    page = admin.get(MAIL + "/templates/new?event=TICKET_CREATED").get_data(as_text=True)
    assert f'<option value="{event.id}"' in page
    data = _template_form(admin, body_html="<p>{{ ticket.title }}</p>", source=str(event.id))
    assert "Tür klemmt im Keller" in admin.post(MAIL + "/templates/preview", data=data).get_json()["preview"]["html"]
    sample = _template_form(admin, body_html="<p>{{ ticket.title }}</p>")
    assert "Heizung im Bad" in admin.post(MAIL + "/templates/preview", data=sample).get_json()["preview"]["html"]


# --- What the screenshots of every page showed (issue 17: "Look at each one") ----------------


def test_a_test_that_worked_names_security_and_login_in_words_in_both_languages(admin, tenant):
    from datetime import datetime, timezone

    settings = db.session.get(MailSettings, tenant.id)
    settings.last_test_at = datetime.now(timezone.utc)
    settings.last_test_result = "OK: 127.0.0.1:2525 answered (none, no login, with SMTPUTF8)"
    db.session.commit()
    english = admin.get(MAIL + "/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "(none, no login" not in english
    assert "127.0.0.1:2525 answered. Security: None (internal relay only); no login" in english
    german = admin.get(MAIL + "/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "answered" not in german and "127.0.0.1:2525 hat geantwortet. Verschlüsselung: Keine" in german


def test_german_pages_show_no_status_keys_object_types_or_plugin_sources(admin, tenant):
    from plugins.ticket.service import create_ticket

    de = {"Accept-Language": "de"}
    queue = admin.get(MAIL + "/queue", headers=de).get_data(as_text=True)
    assert "FAILED-Nachrichten" not in queue and "Alle fehlgeschlagenen Nachrichten" in queue
    audit = admin.get(MAIL + "/audit", headers=de).get_data(as_text=True).split("<main")[1]
    assert ">system<" not in audit and "Mandant" in audit and "tenant " not in audit
    plugins = admin.get("/settings/admin/plugins/", headers=de).get_data(as_text=True)
    assert "(entry point)" not in plugins and "(installiertes Paket)" in plugins
    automate = admin.get("/settings/admin/automate/", headers=de).get_data(as_text=True)
    assert "PENDING" not in automate and "Sweeper" not in automate
    ticket = create_ticket(
        tenant.id, title="Heizung", description="kalt", reporter_name="Erika", reporter_email="erika@example.org"
    )
    page = admin.get(f"/tickets/{ticket.id}", headers=de).get_data(as_text=True)
    assert ">open<" not in page and ">nobody<" not in page and '<span class="badge">offen</span>' in page


def test_the_templates_list_shows_a_subject_without_its_statements(admin, tenant):
    from core.models import Template

    template = db.session.execute(db.select(Template)).scalars().first()
    template.subject = (
        '{% set label = {"open": "offen"} %}[#{{ ticket.id }}] {# a note #}Status: {{ label.get(ticket.status) }}'
    )
    db.session.commit()
    html = admin.get(MAIL + "/templates").get_data(as_text=True)
    assert "[#{{ ticket.id }}] Status: {{ label.get(ticket.status) }}</a>" in html
    assert "{% set" not in html and "a note" not in html
