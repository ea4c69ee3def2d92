"""A faulty plugin fails alone: a hook that raises at run time is recorded
with the plugin's name, the hook and the error, holds up only the rules
that need it, and the event runs again once the plugin is fixed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.api import EventSpec, InboundMail, Recipient, Role, Variable, call_inbound, hookimpl
from core.app import create_app
from core.cli import main
from core.events import emit
from core.extensions import db
from core.models import Event, EventStatus, Message, Notification, Rule, Template
from core.notify import tell_outcome
from core.plugins import PluginHookError, registry
from core.tenancy import tenant_ref
from tests.helpers import csrf_token, drain, login, make_tenant
from tests.sending_helpers import queue_message

PING = EventSpec("PING", "Ping", variables=(Variable("ping.n", "a number", 1),), roles=(Role("pinger", "who"),))


class PingPlugin:
    """One event, one role, one namespace."""

    @hookimpl
    def postwerk_register_events(self):
        return [PING]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {"ping": payload.get("ping", payload)} if event == "PING" else None

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        return [Recipient("pinger@example.org")] if role == "pinger" else None


class BoomPlugin:
    """Raises in every run-time hook while ``broken`` is set."""

    broken = True
    heard: list = []

    def _maybe_raise(self):
        if BoomPlugin.broken:
            raise RuntimeError("boom")

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        self._maybe_raise()
        return {"boom": {"word": "bang"}}

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        if role == "boomer":
            self._maybe_raise()
            return [Recipient("boomer@example.org")]
        return None

    @hookimpl
    def postwerk_delivery_outcome(self, tenant, message_id, status, detail):
        self._maybe_raise()

    @hookimpl
    def postwerk_inbound_mail(self, tenant, mail):
        self._maybe_raise()
        return None


class ListenerPlugin:
    """Hears delivery outcomes and takes inbound mail (registered before boom,
    so pluggy asks boom first)."""

    heard: list = []

    @hookimpl
    def postwerk_delivery_outcome(self, tenant, message_id, status, detail):
        ListenerPlugin.heard.append((message_id, status))

    @hookimpl
    def postwerk_inbound_mail(self, tenant, mail):
        from core.api import InboundResult

        return InboundResult("comment", "listener-1")


@pytest.fixture
def faulty_app(config):
    BoomPlugin.broken = True
    ListenerPlugin.heard = []
    app = create_app(config, extra_plugins={"ping": PingPlugin(), "listener": ListenerPlugin(), "boom": BoomPlugin()})
    with app.app_context():
        yield app
        db.engine.dispose()


def _rule(tenant_id, key, recipient, subject):
    for language in ("de", "en"):
        db.session.add(
            Template(
                tenant_id=tenant_id,
                key=key,
                language=language,
                subject=subject,
                body_html=f"<p>{subject}</p>",
                body_text="",
            )
        )
    rule = Rule(tenant_id=tenant_id, name=key, event="PING", recipient=recipient, template_key=key, active=True)
    db.session.add(rule)
    db.session.commit()
    return rule


def _tenant(smtp_sink):
    tenant = make_tenant("acme", smtp_sink, plugins=("ticket", "ping", "listener", "boom"))
    plain = _rule(tenant.id, "ping_plain", "address:plain@example.org", "Ping {{ ping.n }}")
    needs_boom = _rule(tenant.id, "ping_boom", "address:needs@example.org", "Ping {{ boom.word }}")
    role = _rule(tenant.id, "ping_role", "role:boomer", "Ping to the boomer {{ ping.n }}")
    return tenant, plain, needs_boom, role


def test_a_raising_hook_holds_up_only_the_rules_that_need_it_and_runs_again(faulty_app, smtp_sink):
    tenant, plain, needs_boom, role = _tenant(smtp_sink)
    ping = emit(tenant.id, "PING", {"n": 7})
    ticket = emit(tenant.id, "TICKET_CREATED", registry().event("TICKET_CREATED")[0].sample_payload())
    db.session.commit()
    drain(faulty_app)

    received = {m.rcpt_tos[0] for m in smtp_sink.messages}
    assert "plain@example.org" in received  # the rule that needs nothing of boom
    assert db.session.execute(db.select(Message.status).where(Message.event_id == ticket.id)).scalars().all() == [
        "SENT"
    ]  # another plugin's event
    assert not {"needs@example.org", "boomer@example.org"} & received
    event = db.session.get(Event, ping.id)
    assert event.status == EventStatus.FAILED
    parts = {(f["plugin"], f["hook"], f["error"], f["rule_id"]) for f in event.failures}
    assert parts == {
        ("boom", "postwerk_template_variables", "RuntimeError: boom", needs_boom.id),
        ("boom", "postwerk_resolve_recipients", "RuntimeError: boom", role.id),
    }
    assert "plugin 'boom' failed in postwerk_template_variables: RuntimeError: boom" in event.error
    assert db.session.get(Event, ticket.id).status == EventStatus.EXPANDED
    texts = [n.text for n in db.session.execute(db.select(Notification)).scalars()]
    assert any("plugin 'boom' failed in postwerk_resolve_recipients" in t and f"#{ping.id}" in t for t in texts)

    client = faulty_app.test_client()
    login(client)
    overview = client.get("/settings/admin/mail/").get_data(as_text=True)
    assert 'id="failed-events"' in overview and "plugin &#39;boom&#39; failed in" in overview
    page = client.get("/settings/admin/mail/events/failed").get_data(as_text=True)
    assert f'id="event-{ping.id}"' in page

    BoomPlugin.broken = False  # the author ships a fix
    response = client.post(
        "/settings/admin/mail/events/failed/retry", data={"csrf_token": csrf_token(page), "id": str(ping.id)}
    )
    assert response.status_code == 302
    drain(faulty_app)
    db.session.expire_all()
    event = db.session.get(Event, ping.id)
    assert event.status == EventStatus.EXPANDED and event.failures is None and event.error is None
    to = [m.rcpt_tos[0] for m in smtp_sink.messages]
    assert to.count("plain@example.org") == 1  # not mailed twice
    assert to.count("needs@example.org") == 1 and to.count("boomer@example.org") == 1
    assert "No failed events." in client.get("/settings/admin/mail/events/failed").get_data(as_text=True)


def test_events_retry_on_the_command_line_runs_failed_events_again(faulty_app, smtp_sink):
    tenant, plain, needs_boom, role = _tenant(smtp_sink)
    ping = emit(tenant.id, "PING", {"n": 1})
    db.session.commit()
    drain(faulty_app)
    assert db.session.get(Event, ping.id).status == EventStatus.FAILED

    runner = CliRunner()
    from flask.cli import ScriptInfo

    # `postwerk` is a Flask command line: its commands take the app from ScriptInfo.
    script_info = ScriptInfo(create_app=lambda: faulty_app, set_debug_flag=False)
    BoomPlugin.broken = False
    result = runner.invoke(main, ["events", "retry", "acme"], obj=script_info)
    assert result.exit_code == 0, result.output
    assert (
        f"event {ping.id} PING: plugin 'boom' failed in" in result.output
        and "1 event(s) will run again" in result.output
    )
    drain(faulty_app)
    db.session.expire_all()
    assert db.session.get(Event, ping.id).status == EventStatus.EXPANDED
    assert (
        db.session.execute(db.select(db.func.count()).select_from(Message).where(Message.event_id == ping.id)).scalar()
        == 3
    )


def test_the_dry_run_shows_a_plugin_failure_instead_of_answering_500(faulty_app, smtp_sink):
    tenant, plain, needs_boom, role = _tenant(smtp_sink)
    client = faulty_app.test_client()
    login(client)
    page = client.get("/settings/admin/mail/rules/dryrun").get_data(as_text=True)
    response = client.post(
        "/settings/admin/mail/rules/dryrun",
        data={"csrf_token": csrf_token(page), "target": "event:PING", "source": "sample"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "plugin &#39;boom&#39; failed in postwerk_template_variables: RuntimeError: boom" in html
    assert "Ping 1" in html  # the rule that needs nothing of boom is still shown


def test_a_raising_outcome_hook_does_not_keep_other_plugins_from_hearing(faulty_app, smtp_sink):
    tenant, *_ = _tenant(smtp_sink)
    message = queue_message(tenant.id)
    tell_outcome(tenant.id, tenant_ref(tenant), message.id, "SENT", "250 ok")
    assert ListenerPlugin.heard == [(message.id, "SENT")]
    texts = [n.text for n in db.session.execute(db.select(Notification)).scalars()]
    assert any("plugin 'boom' failed in postwerk_delivery_outcome: RuntimeError: boom" in t for t in texts)


def test_a_raising_inbound_hook_is_rolled_back_and_named_and_the_mail_not_passed_on(faulty_app, smtp_sink):
    from core.models import AuditEntry

    tenant, *_ = _tenant(smtp_sink)
    original = BoomPlugin.postwerk_inbound_mail

    def writes_then_raises(self, tenant, mail):
        db.session.add(AuditEntry(tenant_id=tenant.id, actor="boom", action="half.done"))
        db.session.flush()
        raise RuntimeError("boom")

    monkeypatch_impl = [i for i in registry().pm.hook.postwerk_inbound_mail.get_hookimpls() if i.plugin_name == "boom"]
    monkeypatch_impl[0].function = writes_then_raises.__get__(monkeypatch_impl[0].plugin)
    try:
        mail = InboundMail(
            mailbox="support",
            message_id="<1@example.org>",
            from_address="erika@example.org",
            from_name="Erika",
            to=("support@acme.example",),
            subject="Hallo",
            text="Hallo",
        )
        with pytest.raises(PluginHookError, match="plugin 'boom' failed in postwerk_inbound_mail"):
            call_inbound(tenant.id, mail)
    finally:
        monkeypatch_impl[0].function = original.__get__(monkeypatch_impl[0].plugin)
    db.session.commit()
    assert db.session.execute(db.select(AuditEntry).where(AuditEntry.action == "half.done")).first() is None
    BoomPlugin.broken = False  # fixed: boom declines, the next plugin takes it
    assert call_inbound(tenant.id, mail).reference == "listener-1"


def test_retention_never_deletes_a_failed_event(faulty_app, smtp_sink):
    from datetime import timedelta

    from core.automate.tasks import run_retention
    from core.models.types import utcnow

    tenant, *_ = _tenant(smtp_sink)
    old = emit(tenant.id, "PING", {"n": 1})
    db.session.commit()
    drain(faulty_app)
    db.session.execute(db.update(Event).values(created_at=utcnow() - timedelta(days=3650)))
    db.session.execute(db.delete(Message))
    db.session.commit()
    run_retention(tenant.id)
    assert db.session.get(Event, old.id).status == EventStatus.FAILED


def test_a_raising_tasks_hook_leaves_the_other_plugins_tasks_running(config):
    from core.automate.tasks import MAIL_WORKER, task_specs

    class BadTasks:
        @hookimpl
        def postwerk_tasks(self):
            raise RuntimeError("no tasks today")

    class WrongTasks:
        @hookimpl
        def postwerk_tasks(self):
            return ["poll every minute"]

    app = create_app(config, extra_plugins={"badtasks": BadTasks(), "wrongtasks": WrongTasks()})
    with app.app_context():
        tenant = make_tenant("acme", plugins=("badtasks", "wrongtasks"))
        assert MAIL_WORKER in task_specs(tenant.id)
        # Visible to the admin, naming plugin, hook and error -- once, though
        # the scheduler asks on every tick.
        assert MAIL_WORKER in task_specs(tenant.id)
        texts = [
            n.text
            for n in db.session.execute(db.select(Notification).where(Notification.tenant_id == tenant.id)).scalars()
        ]
        wanted = "AUTOMATE: plugin 'badtasks' failed in postwerk_tasks: RuntimeError: no tasks today"
        assert texts.count(wanted) == 1, texts
        assert (
            sum(
                "plugin 'wrongtasks' failed in postwerk_tasks: returned 'poll every minute', not a "
                "core.api.TaskSpec" in t
                for t in texts
            )
            == 1
        ), texts
        db.engine.dispose()
