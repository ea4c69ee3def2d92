"""The mail admin's pages and forms, through the Flask test client."""

from __future__ import annotations

import re

import pytest

from core.extensions import db
from core.models import AuditEntry, MailSettings, Message, MessageStatus, Rule, Template
from tests.helpers import csrf_token, login, make_tenant

BASE = "/settings/admin/mail"


@pytest.fixture
def admin(client, tenant):
    login(client)
    return client


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def post(client, url, data, *, token_from=None, status=302):
    html = page(client, token_from or url.rsplit("/", 1)[0] or BASE)
    response = client.post(url, data={"csrf_token": csrf_token(html), **data})
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response


def test_every_page_renders(admin):
    for path in (
        "",
        "/settings",
        "/templates",
        "/templates/new",
        "/rules",
        "/rules/new",
        "/rules/dryrun",
        "/queue",
        "/log",
        "/audit",
    ):
        page(admin, BASE + path)


def make_message(tenant_id, n=0, status=MessageStatus.SENT, **kw):
    from core.mail import mime

    values = dict(
        tenant_id=tenant_id,
        message_id=mime.new_message_id("noreply@acme.example"),
        sender="noreply@acme.example",
        recipients=[f"user{n}@example.org"],
        subject=f"Subject {n}",
        body_text=f"Text {n}",
        body_html=f"<p>Html {n}</p>",
        status=status,
        event_key="TICKET_CREATED",
        last_error="550 5.1.1 no such user" if status == MessageStatus.FAILED else None,
    )
    values.update(kw)
    message = Message(**values)
    db.session.add(message)
    db.session.commit()
    return message


# --- access ------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login(client, tenant):
    response = client.get(BASE + "/queue")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_log_out_ends_the_admin_session(admin, tenant):
    html = page(admin, BASE)
    response = admin.post("/logout", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    response = admin.get(BASE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_user_who_is_not_admin_is_refused(client, tenant):
    from core.models import User

    user = User(tenant_id=tenant.id, email="staff@acme.example", name="Staff", is_admin=False)
    user.set_password("staff password 1")
    db.session.add(user)
    db.session.commit()
    login(client, email="staff@acme.example", password="staff password 1")
    assert client.get(BASE).status_code == 403
    assert client.get(BASE + "/templates").status_code == 403


def test_another_tenants_ids_give_404(admin, tenant, ctx):
    other = make_tenant("other")
    foreign_template = db.session.execute(db.select(Template).where(Template.tenant_id == other.id)).scalars().first()
    foreign_rule = db.session.execute(db.select(Rule).where(Rule.tenant_id == other.id)).scalars().first()
    foreign_message = make_message(other.id, status=MessageStatus.FAILED)
    page(admin, f"{BASE}/templates/edit?id={foreign_template.id}", 404)
    page(admin, f"{BASE}/rules/edit?id={foreign_rule.id}", 404)
    page(admin, f"{BASE}/queue/body?id={foreign_message.id}", 404)
    html = page(admin, BASE + "/queue")
    for action in ("resend", "delete", "send-now"):
        response = admin.post(f"{BASE}/queue/{action}", data={"csrf_token": csrf_token(html), "id": foreign_message.id})
        assert response.status_code == 404
    response = admin.post(f"{BASE}/templates/delete", data={"csrf_token": csrf_token(html), "id": foreign_template.id})
    assert response.status_code == 404
    assert db.session.get(Template, foreign_template.id) is not None
    assert db.session.execute(db.select(db.func.count()).select_from(Message)).scalar() == 1


def test_a_post_without_csrf_token_is_refused(admin, tenant):
    message = make_message(tenant.id, status=MessageStatus.FAILED)
    assert admin.post(f"{BASE}/queue/resend", data={"id": message.id}).status_code == 400
    assert admin.post(f"{BASE}/settings", data={"host": "evil.example"}).status_code == 400


# --- SMTP settings -------------------------------------------------------------


def settings_data(sink, **overrides):
    data = dict(
        host=sink.host,
        port=str(sink.port),
        security="none",
        auth="none",
        username="",
        password="",
        sender_address="noreply@acme.example",
        sender_name="Acme",
        reply_to="",
        sender_mode="system",
        encoding="utf-8",
        max_connections="5",
    )
    data.update(overrides)
    return data


def test_settings_store_the_password_encrypted_and_never_show_it(admin, tenant, smtp_sink):
    post(
        admin,
        BASE + "/settings",
        settings_data(smtp_sink, auth="password", username="mailer", password="s3cret-password"),
        token_from=BASE + "/settings",
    )
    db.session.expire_all()
    settings = db.session.get(MailSettings, tenant.id)
    assert settings.password_encrypted and "s3cret" not in settings.password_encrypted
    html = page(admin, BASE + "/settings")
    assert "s3cret" not in html and settings.password_encrypted not in html
    assert "Delete password" in html
    # Left empty, the stored password stays.
    stored = settings.password_encrypted
    post(
        admin,
        BASE + "/settings",
        settings_data(smtp_sink, auth="password", username="mailer"),
        token_from=BASE + "/settings",
    )
    db.session.expire_all()
    assert db.session.get(MailSettings, tenant.id).password_encrypted == stored
    post(admin, BASE + "/settings/delete-password", {"id": "password"}, token_from=BASE + "/settings")
    db.session.expire_all()
    assert db.session.get(MailSettings, tenant.id).password_encrypted is None
    actions = db.session.execute(db.select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id)).scalars().all()
    assert "mail_settings.saved" in actions and "mail_settings.password_deleted" in actions
    assert all("s3cret" not in str(e.detail) for e in db.session.execute(db.select(AuditEntry)).scalars())


def test_saving_settings_clears_the_broken_reason(admin, tenant, smtp_sink):
    settings = db.session.get(MailSettings, tenant.id)
    settings.broken_reason = "535 5.7.8 bad credentials"
    db.session.commit()
    assert "535 5.7.8" in page(admin, BASE)
    post(admin, BASE + "/settings", settings_data(smtp_sink), token_from=BASE + "/settings")
    db.session.expire_all()
    assert db.session.get(MailSettings, tenant.id).broken_reason is None
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "mail_settings.saved")).scalar_one()
    assert entry.detail["cleared_broken_reason"] == "535 5.7.8 bad credentials"


def test_invalid_settings_are_reported_at_the_field(admin, tenant, smtp_sink):
    response = post(
        admin,
        BASE + "/settings",
        settings_data(smtp_sink, port="99999", sender_address="not-an-address", auth="password", username=""),
        token_from=BASE + "/settings",
        status=400,
    )
    html = response.get_data(as_text=True)
    assert "Number must be between 1 and 65535" in html
    assert "Invalid email address" in html
    assert "A login needs a user name." in html


def test_a_trusted_ca_is_checked_on_upload(admin, tenant, smtp_sink):
    import io

    html = page(admin, BASE + "/settings")
    data = {
        "csrf_token": csrf_token(html),
        **settings_data(smtp_sink),
        "trusted_ca": (io.BytesIO(b"not a certificate"), "ca.pem"),
    }
    response = admin.post(BASE + "/settings", data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Not a PEM certificate" in response.get_data(as_text=True)


def test_the_test_mail_arrives_and_the_answer_is_shown(admin, tenant, smtp_sink):
    response = post(
        admin, BASE + "/test", {"recipient": "check@example.org"}, token_from=BASE + "/settings", status=200
    )
    html = response.get_data(as_text=True)
    assert "Sent." in html and "250" in html
    (mail,) = smtp_sink.wait_for(1)
    assert mail.rcpt_tos == ["check@example.org"]
    # Directly, not through the queue.
    assert db.session.execute(db.select(Message)).first() is None
    db.session.expire_all()
    assert db.session.get(MailSettings, tenant.id).last_test_result.startswith("OK: 250")


def test_the_test_mail_shows_the_servers_words_and_a_hint(admin, tenant):
    from tests.support.smtp_sink import SmtpSink

    sink = SmtpSink(auth={"mailer": "right-password"}).start()
    try:
        post(
            admin,
            BASE + "/settings",
            settings_data(sink, auth="password", username="mailer", password="wrong-password"),
            token_from=BASE + "/settings",
        )
        html = post(
            admin, BASE + "/test", {"recipient": "check@example.org"}, token_from=BASE + "/settings", status=200
        ).get_data(as_text=True)
    finally:
        sink.stop()
    assert "Not sent." in html and "535" in html
    assert "Authentication: check user name, password" in html, html[html.find("test-outcome") :][:800]


def test_the_test_mail_hints_at_port_and_tls(admin, tenant, smtp_sink):
    post(admin, BASE + "/settings", settings_data(smtp_sink, security="ssl"), token_from=BASE + "/settings")
    html = post(
        admin, BASE + "/test", {"recipient": "check@example.org"}, token_from=BASE + "/settings", status=200
    ).get_data(as_text=True)
    assert "Not sent." in html
    assert "Port and TLS" in html


# --- templates -----------------------------------------------------------------


def template_data(**overrides):
    data = dict(
        id="",
        key="ticket_note",
        language="en",
        subject="About {{ ticket.title }}",
        body_html="<p>Hello {{ ticket.reporter.name }}</p>",
        body_text="",
        event="TICKET_CREATED",
        action="save",
    )
    data.update(overrides)
    return data


def test_sample_values_follow_the_templates_language(admin, tenant):
    """Preview, the placeholder list and its refresh use the samples of the template's language."""
    html = page(admin, BASE + "/templates/new")
    token = {"X-CSRFToken": csrf_token(html)}
    german = admin.post(BASE + "/templates/preview", data=template_data(language="de"), headers=token).get_json()
    english = admin.post(BASE + "/templates/preview", data=template_data(language="en"), headers=token).get_json()
    assert german["preview"]["subject"] == "About Heizung im Bad fällt aus"
    assert "Hello Erika Mustermann" in german["preview"]["html"]
    assert english["preview"]["subject"] == "About Bathroom heating is out"
    assert "Hello Jane Doe" in english["preview"]["html"]
    listed = {
        p["name"]: p["sample"]
        for p in admin.get(BASE + "/templates/placeholders?event=TICKET_CREATED&language=en").get_json()
    }
    assert listed["ticket.title"] == "Bathroom heating is out"
    assert listed["ticket.id"] == "123"  # no English sample: the one sample
    listed = {
        p["name"]: p["sample"]
        for p in admin.get(BASE + "/templates/placeholders?event=TICKET_CREATED&language=de").get_json()
    }
    assert listed["ticket.title"] == "Heizung im Bad fällt aus"
    saved = post(admin, BASE + "/templates/save", template_data(language="en"), token_from=BASE + "/templates/new")
    assert "Bathroom heating is out" in page(admin, saved.headers["Location"])


def test_a_misspelled_placeholder_is_refused_with_line_and_suggestion(admin, tenant):
    response = post(
        admin,
        BASE + "/templates/save",
        template_data(body_html="<p>Hello</p>\n<p>{{ ticket.reporter.nmae }}</p>"),
        token_from=BASE + "/templates/new",
        status=400,
    )
    html = response.get_data(as_text=True)
    assert "line 2" in html
    assert "unknown placeholder &#39;ticket.reporter.nmae&#39; — did you mean &#39;ticket.reporter.name&#39;?" in html
    assert db.session.execute(db.select(Template).where(Template.key == "ticket_note")).first() is None


def test_a_syntax_error_is_reported_with_its_line(admin, tenant):
    html = post(
        admin,
        BASE + "/templates/save",
        template_data(body_html="<p>ok</p>\n{% if %}"),
        token_from=BASE + "/templates/new",
        status=400,
    ).get_data(as_text=True)
    assert "line 2" in html and "syntax error" in html


def test_a_template_is_saved_previewed_and_audited(admin, tenant):
    response = post(admin, BASE + "/templates/save", template_data(), token_from=BASE + "/templates/new")
    saved = db.session.execute(db.select(Template).where(Template.key == "ticket_note")).scalar_one()
    assert saved.subject == "About {{ ticket.title }}" and saved.body_text == ""
    html = page(admin, response.headers["Location"])
    assert "ticket.reporter.email" in html  # placeholders of the event listed beside the editor
    preview = admin.post(BASE + "/templates/preview", data=template_data(), headers={"X-CSRFToken": csrf_token(html)})
    assert preview.status_code == 200
    answer = preview.get_json()
    assert answer["problems"] == []
    # An English template previews with the English samples (issue 17).
    assert answer["preview"]["subject"] == "About Bathroom heating is out"
    assert "Hello Jane Doe" in answer["preview"]["html"]
    assert "Hello Jane Doe" in answer["preview"]["text"]  # generated from the HTML
    no_js = post(
        admin,
        BASE + "/templates/save",
        template_data(action="preview", subject="Hi {{ ticket.id }}"),
        token_from=BASE + "/templates/new",
        status=200,
    ).get_data(as_text=True)
    assert "Hi 123" in no_js
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "template.created")).scalar_one()


NESTED_LOOPS = (
    "{% for a in 'a'*1000 %}{% for b in 'a'*1000 %}{% for c in 'a'*1000 %}{% endfor %}{% endfor %}{% endfor %}"
)
RUNAWAY = {
    "power tower": ("{{ (9**100**100**100**20) > 1 }}", "too large"),
    "nested loops": (NESTED_LOOPS, "loops more than"),
    "format width": ("{{ '{:>100000000}'.format('x') }}", "too large"),
    "3000 parentheses": ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nested too deeply"),
    "25 nested loops": (
        "".join("{%% for x%d in [1] %%}" % i for i in range(25)) + "{% endfor %}" * 25,
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("source,error", RUNAWAY.values(), ids=RUNAWAY.keys())
def test_the_preview_refuses_a_runaway_template_with_the_budget_error(admin, tenant, source, error):
    html = page(admin, BASE + "/templates/new")
    response = admin.post(
        BASE + "/templates/preview", data=template_data(body_html=source), headers={"X-CSRFToken": csrf_token(html)}
    )
    assert response.status_code == 200
    answer = response.get_json()
    assert any(p["part"] == "body_html" and error in p["message"] for p in answer["problems"]), answer["problems"]
    assert answer["preview"] is None or error in answer["preview"]["error"]
    saved = post(
        admin, BASE + "/templates/save", template_data(body_html=source), token_from=BASE + "/templates/new", status=400
    ).get_data(as_text=True)
    assert error in saved and "Not saved" in saved


def test_a_runaway_template_cannot_be_saved_even_without_an_event(admin, tenant):
    html = post(
        admin,
        BASE + "/templates/save",
        template_data(body_html=NESTED_LOOPS, event=""),
        token_from=BASE + "/templates/new",
        status=400,
    ).get_data(as_text=True)
    assert "loops more than 100000 times" in html
    assert db.session.execute(db.select(Template).where(Template.key == "ticket_note")).first() is None


def test_another_request_is_answered_while_a_preview_runs_out_its_budget(app, admin, tenant, monkeypatch):
    """The budget is checked between Python operations, and no operation is
    one long C call holding the GIL (the power tower held it for 19 s), so the
    web process goes on serving while a preview runs out its time."""
    import threading

    from core.admin import template_editor
    from core.mail import sandbox

    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", 1.0)
    checking = threading.Event()
    check = template_editor.check

    def signalling_check(form):
        checking.set()
        return check(form)

    monkeypatch.setattr(template_editor, "check", signalling_check)
    html = page(admin, BASE + "/templates/new")
    endless = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    answers = []
    preview = threading.Thread(
        target=lambda: answers.append(
            admin.post(
                BASE + "/templates/preview",
                data=template_data(subject="{{ (9**100**100**100**20) > 1 }}", body_html=endless),
                headers={"X-CSRFToken": csrf_token(html)},
            )
        )
    )
    preview.start()
    assert checking.wait(10)
    other = app.test_client().get("/login")
    still_running = preview.is_alive()
    preview.join()
    assert other.status_code == 200 and still_running
    assert any("took longer than 1 s" in p["message"] for p in answers[0].get_json()["problems"])


def test_a_second_version_in_the_same_language_is_refused(admin, tenant):
    html = post(
        admin,
        BASE + "/templates/save",
        template_data(key="ticket_created", language="de"),
        token_from=BASE + "/templates/new",
        status=400,
    ).get_data(as_text=True)
    assert "already has a version in this language" in html


def test_deleting_a_template_a_rule_uses_is_refused_with_the_rules_named(admin, tenant):
    template = db.session.execute(db.select(Template).where(Template.key == "ticket_created")).scalars().first()
    response = post(admin, BASE + "/templates/delete", {"id": template.id}, token_from=BASE + "/templates")
    html = page(admin, response.headers["Location"])
    assert "is used by these rules and cannot be deleted" in html
    assert "Confirm a new ticket to its reporter" in html
    assert db.session.get(Template, template.id) is not None
    post(admin, BASE + "/templates/save", template_data(), token_from=BASE + "/templates/new")
    unused = db.session.execute(db.select(Template).where(Template.key == "ticket_note")).scalar_one()
    post(admin, BASE + "/templates/delete", {"id": unused.id}, token_from=BASE + "/templates")
    db.session.expire_all()
    assert db.session.get(Template, unused.id) is None


# --- rules -----------------------------------------------------------------------


def rule_data(**overrides):
    data = dict(
        id="",
        name="Copy to the office",
        event="TICKET_CREATED",
        recipient_kind="address",
        recipient_role="reporter",
        recipient_address="office@acme.example, boss@acme.example",
        template_key="ticket_created",
        active="y",
    )
    data.update(overrides)
    return data


def test_rules_are_created_edited_and_deleted(admin, tenant):
    html = page(admin, BASE + "/rules/new")
    assert '<optgroup label="ticket">' in html and "Ticket created (TICKET_CREATED)" in html
    post(admin, BASE + "/rules/save", rule_data(), token_from=BASE + "/rules/new")
    rule = db.session.execute(db.select(Rule).where(Rule.name == "Copy to the office")).scalar_one()
    assert rule.recipient == "address:office@acme.example, boss@acme.example" and rule.active
    edit = page(admin, f"{BASE}/rules/edit?id={rule.id}")
    assert 'value="office@acme.example, boss@acme.example"' in edit
    post(
        admin,
        BASE + "/rules/save",
        rule_data(id=str(rule.id), recipient_kind="role", active=""),
        token_from=f"{BASE}/rules/edit?id={rule.id}",
    )
    db.session.expire_all()
    rule = db.session.get(Rule, rule.id)
    assert rule.recipient == "role:reporter" and not rule.active
    post(admin, BASE + "/rules/delete", {"id": rule.id}, token_from=BASE + "/rules")
    db.session.expire_all()
    assert db.session.get(Rule, rule.id) is None
    actions = set(db.session.execute(db.select(AuditEntry.action)).scalars())
    assert {"rule.created", "rule.saved", "rule.deleted"} <= actions


def test_bad_recipients_are_reported(admin, tenant):
    html = post(
        admin,
        BASE + "/rules/save",
        rule_data(recipient_address="not an address"),
        token_from=BASE + "/rules/new",
        status=400,
    ).get_data(as_text=True)
    assert "is not a valid e-mail address" in html
    html = post(
        admin,
        BASE + "/rules/save",
        rule_data(recipient_kind="role", recipient_role="landlord"),
        token_from=BASE + "/rules/new",
        status=400,
    ).get_data(as_text=True)
    assert "offers these roles: assignee, reporter, watchers" in html


def test_a_rule_of_a_disabled_plugin_shows_as_not_firing(admin, tenant):
    from core.plugin_state import set_enabled

    set_enabled(tenant.id, "ticket", False)
    db.session.commit()
    html = page(admin, BASE + "/rules")
    assert "not firing" in html and "the plugin &#39;ticket&#39; is disabled for this tenant" in html
    rule = db.session.execute(db.select(Rule)).scalars().first()
    assert "This rule does not fire" in page(admin, f"{BASE}/rules/edit?id={rule.id}")
    # Its events are no longer offered for new rules.
    assert "TICKET_CREATED" not in page(admin, BASE + "/rules/new")


def test_a_rule_sends_to_a_distribution_list(admin, tenant):
    from core import distribution_lists

    html = page(admin, BASE + "/rules/new")
    assert "A distribution list" in html and "No lists yet." in html
    # A list that does not exist is named in the error, next to the list field.
    html = post(
        admin,
        BASE + "/rules/save",
        rule_data(recipient_kind="list", recipient_list="office"),
        token_from=BASE + "/rules/new",
        status=400,
    ).get_data(as_text=True)
    assert "There is no distribution list named office" in html
    distribution_lists.save(tenant.id, "office", "office@acme.example, boss@acme.example")
    other = make_tenant("other")
    distribution_lists.save(other.id, "secret", "x@other.example")
    db.session.commit()
    html = page(admin, BASE + "/rules/new")
    assert '<option value="office">office</option>' in html and "secret" not in html
    # Another tenant's list is as unknown as one that never existed.
    html = post(
        admin,
        BASE + "/rules/save",
        rule_data(recipient_kind="list", recipient_list="secret"),
        token_from=BASE + "/rules/new",
        status=400,
    ).get_data(as_text=True)
    assert "There is no distribution list named secret" in html
    post(
        admin,
        BASE + "/rules/save",
        rule_data(recipient_kind="list", recipient_list="office"),
        token_from=BASE + "/rules/new",
    )
    rule = db.session.execute(db.select(Rule).where(Rule.name == "Copy to the office")).scalar_one()
    assert rule.recipient == "list:office"
    edit = page(admin, f"{BASE}/rules/edit?id={rule.id}")
    assert (
        re.search(r'<input checked [^>]*value="list"', edit)
        and '<option selected value="office">office</option>' in edit
    )
    # The dry run resolves the list to its addresses.
    dry = post(
        admin,
        BASE + "/rules/dryrun",
        {"target": f"rule:{rule.id}", "source": "sample"},
        token_from=BASE + "/rules/dryrun",
        status=200,
    ).get_data(as_text=True)
    assert "boss@acme.example" in dry


def test_rules_page_and_plugins_page_give_the_same_reason(admin, tenant):
    from core.plugin_state import paused_events, set_enabled

    rule = Rule(
        tenant_id=tenant.id,
        name="Contract copy",
        event="CONTRACT_SIGNED",
        recipient="address:office@acme.example",
        template_key="ticket_created",
        active=True,
    )
    db.session.add(rule)
    db.session.commit()
    reason = paused_events(tenant.id)["CONTRACT_SIGNED"]
    assert reason == "paused: the plugin 'vertrag' is disabled for this tenant"
    # The event is not offered for new rules, but the rule is listed with the reason.
    assert "CONTRACT_SIGNED" not in page(admin, BASE + "/rules/new")
    escaped = reason.replace("'", "&#39;")
    rules = page(admin, BASE + "/rules")
    assert "Contract copy" in rules and escaped in rules
    edit = page(admin, f"{BASE}/rules/edit?id={rule.id}")
    assert escaped in edit and '<option selected value="CONTRACT_SIGNED">' in edit
    # Saving it keeps its event, though the event is no longer in the select's normal groups.
    post(
        admin,
        BASE + "/rules/save",
        rule_data(id=str(rule.id), event="CONTRACT_SIGNED", name="Renamed"),
        token_from=f"{BASE}/rules/edit?id={rule.id}",
    )
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).event == "CONTRACT_SIGNED"
    set_enabled(tenant.id, "vertrag", True)
    set_enabled(tenant.id, "ticket", False)
    db.session.commit()
    plugins = page(admin, "/settings/admin/plugins/")
    ticket_reason = paused_events(tenant.id)["TICKET_CREATED"].replace("'", "&#39;")
    assert ticket_reason in plugins and ticket_reason in page(admin, BASE + "/rules")


# --- dry run ------------------------------------------------------------------------


def _counts():
    from core.models import Event

    return tuple(
        db.session.execute(db.select(db.func.count()).select_from(m)).scalar() for m in (Message, Event, AuditEntry)
    )


def test_the_dry_run_shows_what_would_happen_and_writes_nothing(admin, tenant, smtp_sink):
    rules = db.session.execute(db.select(Rule)).scalars().all()
    off = Rule(
        tenant_id=tenant.id,
        name="Switched off",
        event="TICKET_CREATED",
        recipient="role:reporter",
        template_key="ticket_created",
        active=False,
    )
    office = Rule(
        tenant_id=tenant.id,
        name="Office copy",
        event="TICKET_CREATED",
        recipient="address:office@acme.example",
        template_key="ticket_created",
        active=True,
    )
    db.session.add_all([off, office])
    template = db.session.execute(
        db.select(Template).where(Template.key == "ticket_created", Template.language == "de")
    ).scalar_one()
    template.body_text += "\nBeschreibung: {{ ticket.description }}"
    db.session.commit()
    before = _counts()
    html = post(
        admin,
        BASE + "/rules/dryrun",
        {"target": "event:TICKET_CREATED", "source": "sample"},
        token_from=BASE + "/rules/dryrun",
        status=200,
    ).get_data(as_text=True)
    assert _counts() == before
    assert smtp_sink.messages == []
    assert html.count("would fire") == 2 and html.count("would not fire") == 1
    assert "the rule is switched off" in html
    assert "erika@example.org" in html and "office@acme.example" in html
    assert "[#123] Ihre Meldung: Heizung im Bad fällt aus" in html
    # The office address has no name: the dry run says recipient.name would
    # be empty there (the default template guards it with an if).
    assert "Empty placeholders: <code>recipient.name</code>" in html

    # A real event with an empty description shows that placeholder as empty.
    from plugins.ticket.service import create_ticket

    create_ticket(
        tenant.id,
        title="Tür klemmt",
        description="",
        reporter_name="Max",
        reporter_email="max@example.org",
        reporter_language="de",
    )
    db.session.commit()
    from core.models import Event

    event = db.session.execute(db.select(Event)).scalar_one()
    before = _counts()
    html = post(
        admin,
        BASE + "/rules/dryrun",
        {"target": f"rule:{rules[0].id}", "source": str(event.id)},
        token_from=BASE + "/rules/dryrun",
        status=200,
    ).get_data(as_text=True)
    assert _counts() == before
    assert "Tür klemmt" in html and "max@example.org" in html
    assert "Empty placeholders" in html and "ticket.description" in html


def test_the_dry_run_explains_a_disabled_plugin(admin, tenant):
    from core.plugin_state import set_enabled

    rule = db.session.execute(db.select(Rule)).scalars().first()
    set_enabled(tenant.id, "ticket", False)
    db.session.commit()
    html = post(
        admin,
        BASE + "/rules/dryrun",
        {"target": f"rule:{rule.id}", "source": "sample"},
        token_from=BASE + "/rules/dryrun",
        status=200,
    ).get_data(as_text=True)
    assert "would not fire" in html and "disabled for this tenant" in html


def test_the_dry_run_shows_opt_outs_suppression_and_the_send_time_condition(admin, tenant, smtp_sink):
    """Per recipient, what a bulk rule would skip (an address that
    unsubscribed, one on the suppression list), and the rule's send-time
    condition with what it answers now for the values shown."""
    from core import bounces, distribution_lists, opt_outs
    from core.models.message import Priority
    from plugins.ticket.service import create_ticket

    distribution_lists.save(tenant.id, "kunden", "opted@example.org, bounced@example.org, fine@example.org")
    opt_outs.record(tenant.id, "opted@example.org", source="link")
    bounces.note(tenant.id, "bounced@example.org", hard=True, reason="550 5.1.1 no such user")
    bulk = Rule(
        tenant_id=tenant.id,
        name="Newsletter",
        event="TICKET_CREATED",
        recipient="list:kunden",
        template_key="ticket_created",
        active=False,
        priority=Priority.BULK,
        delay_minutes=1440,
        send_condition="ticket_open",
    )
    plain = Rule(
        tenant_id=tenant.id,
        name="Copy",
        event="TICKET_CREATED",
        recipient="list:kunden",
        template_key="ticket_created",
        active=True,
    )
    db.session.add_all([bulk, plain])
    db.session.commit()
    before = _counts()

    def dry(target: str, source: str = "sample") -> str:
        return post(
            admin,
            BASE + "/rules/dryrun",
            {"target": target, "source": source},
            token_from=BASE + "/rules/dryrun",
            status=200,
        ).get_data(as_text=True)

    html = dry(f"rule:{bulk.id}")
    assert "Priority: Bulk" in html and "skips addresses that unsubscribed from bulk mail" in html
    assert html.count("Would be skipped") == 2
    assert "Would be skipped: opted@example.org unsubscribed from bulk mail on" in html
    assert "Would be skipped: the address is on the suppression list." in html
    assert "Send-time condition: <code>ticket_open</code>" in html
    assert "only if the ticket is not closed when the mail is due" in html
    # The sample's ticket #123 does not exist here: not open, so not sent now.
    assert "does not hold now for these values: would not be sent" in html
    assert "sent 1440 minutes after the event" in html
    # A transactional rule to the same list skips only the suppressed address.
    html = dry(f"rule:{plain.id}")
    assert "Priority: Transactional" in html and "unsubscribed from bulk mail on" not in html
    assert html.count("Would be skipped") == 1 and "Send-time condition" not in html
    # A real, open ticket: the condition holds now.
    create_ticket(tenant.id, title="Tür klemmt", description="", reporter_name="Max", reporter_email="max@example.org")
    db.session.commit()
    from core.models import Event

    event = db.session.execute(db.select(Event)).scalar_one()
    html = dry(f"rule:{bulk.id}", str(event.id))
    assert "holds now for these values: would be sent" in html
    assert _counts() == (before[0], before[1] + 1, before[2])  # only the ticket's own event was written
    assert smtp_sink.messages == []


# --- queue ----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_queue_pages_with_keyset_pagination_and_filters(admin, tenant):
    from core.admin.queue import PAGE_SIZE

    ids = [
        make_message(tenant.id, n, status=MessageStatus.FAILED if n % 10 == 0 else MessageStatus.SENT).id
        for n in range(PAGE_SIZE * 2 + 5)
    ]
    first = page(admin, BASE + "/queue")
    shown = [int(i) for i in re.findall(r'id="message-(\d+)"', first)]
    assert shown == sorted(ids, reverse=True)[:PAGE_SIZE]
    older = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "before=" in older and "offset" not in older
    second = [int(i) for i in re.findall(r'id="message-(\d+)"', page(admin, older))]
    assert second == sorted(ids, reverse=True)[PAGE_SIZE : PAGE_SIZE * 2]
    newer = re.search(r'href="([^"]+)" rel="prev"', page(admin, older)).group(1).replace("&amp;", "&")
    assert [int(i) for i in re.findall(r'id="message-(\d+)"', page(admin, newer))] == shown
    failed = page(admin, BASE + "/queue?status=FAILED")
    assert len(re.findall(r'id="message-(\d+)"', failed)) == len([n for n in range(PAGE_SIZE * 2 + 5) if n % 10 == 0])
    assert re.findall(r'id="message-(\d+)"', page(admin, BASE + "/queue?recipient=user17@")) == [str(ids[17])]
    assert "No messages." in page(admin, BASE + "/queue?event=CONTRACT_SIGNED")
    assert "No messages." in page(admin, BASE + "/queue?date_to=2000-01-01")


def test_the_body_is_shown_sandboxed(admin, tenant):
    message = make_message(tenant.id, body_html='<p>Hi</p><script>alert("x")</script>')
    response = admin.get(f"{BASE}/queue/body?id={message.id}")
    html = response.get_data(as_text=True)
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert '<iframe sandbox="" class="mail-html"' in html
    assert "<script>alert" not in html  # escaped into srcdoc
    assert "Text 0" in html


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_resend_creates_a_new_message_once(admin, tenant, smtp_sink, run_worker):
    failed = make_message(tenant.id, status=MessageStatus.FAILED, recipients=["again@example.org"])
    post(admin, BASE + "/queue/resend", {"id": failed.id}, token_from=BASE + "/queue")
    # A double click: the second resend is refused while the first waits.
    response = post(admin, BASE + "/queue/resend", {"id": failed.id}, token_from=BASE + "/queue")
    assert "already waiting" in page(admin, response.headers["Location"])
    copies = db.session.execute(db.select(Message).where(Message.resend_of_id == failed.id)).scalars().all()
    assert len(copies) == 1
    copy = copies[0]
    assert copy.message_id != failed.message_id and copy.status == MessageStatus.PENDING
    run_worker()
    (mail,) = smtp_sink.wait_for(1)
    assert mail.message["Message-ID"] == copy.message_id
    db.session.expire_all()
    assert db.session.get(Message, copy.id).status == MessageStatus.SENT
    assert db.session.get(Message, failed.id).status == MessageStatus.FAILED
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "message.resend")).scalar_one()
    assert entry.detail["new_message"] == copy.id


def test_pending_and_sending_messages_are_not_resent(admin, tenant):
    pending = make_message(tenant.id, status=MessageStatus.PENDING)
    post(admin, BASE + "/queue/resend", {"id": pending.id}, token_from=BASE + "/queue")
    assert db.session.execute(db.select(Message).where(Message.resend_of_id == pending.id)).first() is None


def test_send_now_moves_the_next_attempt_and_wakes_the_deliverer(admin, tenant, smtp_sink, run_worker):
    from datetime import timedelta

    from core.models.types import utcnow

    later = make_message(
        tenant.id,
        status=MessageStatus.PENDING,
        next_attempt_at=utcnow() + timedelta(hours=1),
        recipients=["later@example.org"],
    )
    post(admin, BASE + "/queue/send-now", {"id": later.id}, token_from=BASE + "/queue")
    run_worker()
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [["later@example.org"]]
    db.session.expire_all()
    assert db.session.get(Message, later.id).status == MessageStatus.SENT


def test_delete_refuses_a_message_being_sent(admin, tenant):
    sending = make_message(tenant.id, status=MessageStatus.SENDING)
    sent = make_message(tenant.id, 1)
    post(admin, BASE + "/queue/delete", {"id": sending.id}, token_from=BASE + "/queue")
    post(admin, BASE + "/queue/delete", {"id": sent.id}, token_from=BASE + "/queue")
    db.session.expire_all()
    assert db.session.get(Message, sending.id) is not None
    assert db.session.get(Message, sent.id) is None
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "message.deleted")).scalar_one()


def test_bulk_resend_of_the_failed_messages_of_a_filter(admin, tenant):
    a = make_message(tenant.id, 1, status=MessageStatus.FAILED, recipients=["a@example.org"])
    b = make_message(tenant.id, 2, status=MessageStatus.FAILED, recipients=["b@example.org"])
    make_message(tenant.id, 3, status=MessageStatus.SENT, recipients=["a@example.org"])
    post(admin, BASE + "/queue/resend-failed", {"id": "bulk", "recipient": "a@"}, token_from=BASE + "/queue")
    copies = (
        db.session.execute(db.select(Message.resend_of_id).where(Message.resend_of_id.is_not(None))).scalars().all()
    )
    assert copies == [a.id]
    post(admin, BASE + "/queue/resend-failed", {"id": "bulk"}, token_from=BASE + "/queue")
    copies = sorted(
        db.session.execute(db.select(Message.resend_of_id).where(Message.resend_of_id.is_not(None))).scalars().all()
    )
    assert copies == [a.id, b.id]  # a's resend is still waiting: not doubled


# --- logs and languages ------------------------------------------------------------------


def test_the_notification_log_and_audit_show_failures_and_changes(admin, tenant, smtp_sink, run_worker):
    from plugins.ticket.service import create_ticket

    smtp_sink.behaviour.rcpt_replies["erika@example.org"] = "550 5.1.1 no such user"
    create_ticket(
        tenant.id,
        title="Leck",
        description="",
        reporter_name="Erika",
        reporter_email="erika@example.org",
        reporter_language="de",
    )
    db.session.commit()
    run_worker()
    log = page(admin, BASE + "/log")
    assert "550 5.1.1 no such user" in log
    audit = page(admin, BASE + "/audit")
    assert "mail.failed" in audit
    assert "550 5.1.1 no such user" in page(admin, BASE)  # recent failures on the overview


def test_the_ui_follows_the_browser_and_the_users_setting(client, tenant):
    from core.models import User

    login(client)
    german = client.get(BASE, headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert "Warteschlange" in german and 'lang="de"' in german
    english = client.get(BASE, headers={"Accept-Language": "en-GB"}).get_data(as_text=True)
    assert "Queue" in english and "Warteschlange" not in english
    user = db.session.execute(db.select(User)).scalars().first()
    user.language = "en"
    db.session.commit()
    assert "Warteschlange" not in client.get(BASE, headers={"Accept-Language": "de"}).get_data(as_text=True)


def test_the_overview_counts_the_queue_by_status_with_a_cap(admin, tenant, monkeypatch):
    from core.admin import overview

    for n in range(3):
        make_message(tenant.id, n, status=MessageStatus.SENT)
    make_message(tenant.id, 9, status=MessageStatus.FAILED)
    html = page(admin, BASE)
    assert re.search(r"<strong>3</strong> <span class=\"badge status-sent\"[^>]*>", html)
    assert re.search(r"<strong>1</strong> <span class=\"badge status-failed\"[^>]*>", html)
    monkeypatch.setattr(overview, "COUNT_CAP", 2)
    assert re.search(r"<strong>2\+</strong> <span class=\"badge status-sent\"[^>]*>", page(admin, BASE))


def test_the_user_chooses_the_language(admin, tenant):
    from core.models import User

    html = page(admin, BASE + "/queue")
    response = admin.post("/language", data={"csrf_token": csrf_token(html), "language": "de", "next": BASE + "/queue"})
    assert response.status_code == 302 and response.headers["Location"].endswith(BASE + "/queue")
    assert db.session.execute(db.select(User.language)).scalars().first() == "de"
    assert "Warteschlange" in admin.get(BASE, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert admin.post("/language", data={"csrf_token": csrf_token(html), "language": "fr"}).status_code == 400


def test_the_overview_shows_automate_and_why_mail_waits(admin, tenant):
    from core.automate.state import set_task_enabled
    from core.automate.tasks import MAIL_WORKER

    html = page(admin, BASE)
    assert 'href="/settings/admin/automate/"' in html and 'id="waits"' not in html
    # Paused through AUTOMATE's own page, as an admin would.
    admin.post("/settings/admin/automate/pause", data={"csrf_token": csrf_token(html), "action": "pause"})
    html = page(admin, BASE)
    assert "Mail is waiting: AUTOMATE is paused: mail waits in the queue and goes out after it is resumed" in html
    assert '<span class="badge status-failed">paused</span>' in html
    german = admin.get(BASE, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Mails warten: AUTOMATE ist pausiert" in german
    admin.post("/settings/admin/automate/pause", data={"csrf_token": csrf_token(html), "action": "resume"})
    set_task_enabled(tenant.id, MAIL_WORKER, False, actor="test")
    db.session.commit()
    html = page(admin, BASE)
    assert "the mail worker task is switched off in AUTOMATE" in html
    assert re.search(r'Mail worker task: <span class="badge status-failed">off</span>', html)


def test_one_navigation_top_bar_and_settings(admin, tenant):
    from core.plugin_state import set_enabled

    home = page(admin, "/")
    top = home[home.index("<header") : home.index("</header>")]
    assert "Tickets" in top and "Settings" in top
    for admin_page in ("Plugins", "API tokens", "AUTOMATE", ">Mail<", "Lists"):
        assert admin_page not in top
    settings = page(admin, "/settings/admin/plugins/")
    sub = settings[settings.index('class="subnav"') :]
    for entry in ("Mail", "Lists", "Plugins", "AUTOMATE", "API tokens"):
        assert f">{entry}</a>" in sub
    assert "Inbound mail" not in sub
    set_enabled(tenant.id, "inbound_mail", True)
    db.session.commit()
    assert ">Inbound mail</a>" in page(admin, "/settings/admin/automate/")
    # The mail pages add their own row, with the logs as one entry.
    mail = page(admin, BASE + "/audit")
    assert 'aria-current="page">Logs</a>' in mail and 'aria-current="page">Mail</a>' in mail
    german = admin.get("/settings/admin/plugins/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert ">Einstellungen</a>" in german and ">Verteiler</a>" in german


def test_body_page_shows_the_history_of_a_message_taken_back_from_a_dead_worker(admin, tenant):
    from datetime import timedelta

    from core.mail import markers
    from core.mail.sweeper import sweep
    from core.models.types import utcnow

    message = make_message(
        tenant.id,
        0,
        status=MessageStatus.SENDING,
        claim_token="t-dead",
        attempts=1,
        lease_until=utcnow() - timedelta(seconds=1),
        claim_epoch=markers.epoch(),
        last_error="451 4.3.0 try later",
    )
    assert sweep(tenant.id)["reclaimed"] == 1
    db.session.expire_all()
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 2)  # the taken-back attempt counts
    entry = db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "mail.reclaimed")).scalar_one()
    assert entry.object_id == str(message.id) and entry.detail["previous_error"] == "451 4.3.0 try later"
    html = page(admin, f"{BASE}/queue/body?id={message.id}")
    assert "Taken back from a stopped worker, queued again" in html
    assert "its claim expired" in html and "451 4.3.0 try later" in html  # the earlier error stays visible
    # An action the history has no words of its own for reads as the audit says it, never as a code.
    db.session.add(
        AuditEntry(
            tenant_id=tenant.id, actor="system", action="mail.bounced", object_type="message", object_id=str(message.id)
        )
    )
    db.session.commit()
    html = page(admin, f"{BASE}/queue/body?id={message.id}")
    assert "Mail bounced" in html and ">mail.bounced<" not in html and "<td>System</td>" in html
