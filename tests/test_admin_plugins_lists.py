"""The plugins page, the command line's plugins commands, and distribution lists."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.cli import main
from core.distribution_lists import ListError, save
from core.extensions import db
from core.models import DistributionList, PluginState, Rule, Template, User
from plugins.ticket.service import create_ticket
from tests.helpers import ADMIN_PASSWORD, by_recipient, csrf_token, login, make_tenant


def test_plugins_page_lists_every_plugin_with_events_and_placeholders(tenant, client):
    login(client)
    page = client.get("/settings/admin/plugins/").get_data(as_text=True)
    for name in ("core", "ticket", "homepage", "vertrag"):
        assert f'id="plugin-{name}"' in page
    assert "0.1.0" in page  # the built-ins' version is the distribution's
    assert "CONTRACT_SIGNED" in page and "{{ vertrag.rent }}" in page and "role:mieter" in page
    assert "{{ anfrage.url }}" in page and "{{ tenant.name }}" in page
    assert 'id="plugin-ticket" data-enabled="yes"' in page and 'id="plugin-vertrag" data-enabled="no"' in page


def test_enabling_and_disabling_from_the_page_takes_effect_at_once(tenant, client):
    login(client)
    page = client.get("/settings/admin/plugins/").get_data(as_text=True)
    token = csrf_token(page)
    assert client.post("/settings/admin/plugins/vertrag/enable", data={}).status_code == 400
    response = client.post("/settings/admin/plugins/vertrag/enable", data={"csrf_token": token})
    assert response.status_code == 302
    assert db.session.get(PluginState, (tenant.id, "vertrag")).enabled
    rules = db.session.execute(db.select(Rule).where(Rule.event.like("CONTRACT_%"))).scalars().all()
    assert len(rules) == 6 and not any(r.active for r in rules)
    assert client.get("/contracts/").status_code == 200
    # Disable the ticket plugin: its active rule is shown as paused, its pages are gone.
    client.post("/settings/admin/plugins/ticket/disable", data={"csrf_token": token})
    page = client.get("/settings/admin/plugins/").get_data(as_text=True)
    assert "6 active rule(s) do not fire — paused: the plugin &#39;ticket&#39; is disabled" in page
    assert client.get("/tickets/").status_code == 404
    assert client.post("/settings/admin/plugins/core/disable", data={"csrf_token": token}).status_code == 302
    assert "essential" in client.get("/settings/admin/plugins/").get_data(as_text=True)
    assert client.post("/settings/admin/plugins/nosuch/enable", data={"csrf_token": token}).status_code == 404


def test_plugins_page_is_for_admins_only(tenant, client):
    clerk = User(tenant_id=tenant.id, email="clerk@acme.example", name="Clerk", is_admin=False)
    clerk.set_password(ADMIN_PASSWORD)
    db.session.add(clerk)
    db.session.commit()
    login(client, email="clerk@acme.example")
    assert client.get("/settings/admin/plugins/").status_code == 403
    assert client.get("/settings/admin/mail/lists/").status_code == 403


def test_cli_lists_enables_and_disables_per_tenant(tenant, config):
    env = {
        "POSTWERK_DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "POSTWERK_REDIS_URL": config["REDIS_URL"],
        "POSTWERK_SECRET_KEY": "x",
        "POSTWERK_ENCRYPTION_KEY": config["ENCRYPTION_KEYS"][0],
        "POSTWERK_QUEUE_PREFIX": config["QUEUE_PREFIX"],
    }
    runner = CliRunner()
    result = runner.invoke(main, ["plugins", "enable", "acme", "homepage"], env=env)
    assert result.exit_code == 0, result.output
    assert "homepage enabled for acme" in result.output
    listing = runner.invoke(main, ["plugins", "list", "--tenant", "acme"], env=env)
    assert listing.exit_code == 0
    lines = {line.split()[0]: line for line in listing.output.splitlines() if line and not line[0].isspace()}
    assert lines["homepage"].endswith("enabled") and lines["vertrag"].endswith("disabled")
    assert "NEW_INQUIRY" in listing.output
    verbose = runner.invoke(main, ["plugins", "list", "-v"], env=env)
    assert "CONTRACT_SIGNED: placeholders vertrag.id," in verbose.output and "roles mieter, vermieter" in verbose.output
    assert runner.invoke(main, ["plugins", "disable", "acme", "homepage"], env=env).exit_code == 0
    bad = runner.invoke(main, ["plugins", "enable", "acme", "nosuch"], env=env)
    assert bad.exit_code != 0 and "no plugin named 'nosuch'" in bad.output
    db.session.expire_all()
    assert not db.session.get(PluginState, (tenant.id, "homepage")).enabled
    assert db.session.execute(db.select(Template).where(Template.key == "inquiry_office")).first() is not None


def test_list_recipients_receive_mail_for_any_event(tenant, smtp_sink, run_worker):
    save(tenant.id, "Office", "a@acme-hv.example\nb@acme-hv.example; a@acme-hv.example")
    db.session.add(
        Rule(
            tenant_id=tenant.id,
            name="office copy",
            event="TICKET_CREATED",
            recipient="list:office",
            template_key="ticket_created",
            active=True,
        )
    )
    db.session.commit()
    assert db.session.execute(db.select(DistributionList.addresses)).scalar_one() == [
        "a@acme-hv.example",
        "b@acme-hv.example",
    ]
    create_ticket(
        tenant.id, title="Tür klemmt", description="", reporter_name="Erika", reporter_email="erika@example.org"
    )
    db.session.commit()
    run_worker()
    assert set(by_recipient(smtp_sink.wait_for(3))) == {"erika@example.org", "a@acme-hv.example", "b@acme-hv.example"}


def test_missing_list_is_a_reason_not_a_silent_skip(tenant):
    from core.mail.expansion import plan
    from core.tenancy import tenant_ref

    rule = Rule(
        tenant_id=tenant.id, event="TICKET_CREATED", recipient="list:nobody", template_key="ticket_created", active=True
    )
    db.session.add(rule)
    db.session.commit()
    (result,) = [p for p in plan(tenant_ref(tenant), "TICKET_CREATED", {"ticket": {}}) if p.rule.id == rule.id]
    assert not result.fires and "no distribution list named 'nobody'" in result.reason


@pytest.mark.parametrize(
    "name, addresses, words",
    [
        ("Büro!", "a@example.org", "a list's name"),
        ("office", "", "at least one address"),
        ("office", "a@example.org, not-an-address", "not a valid e-mail address"),
        ("office", "a@example.org\r\nBcc: evil@example.org", "not a valid"),
    ],
)
def test_bad_lists_are_refused(tenant, name, addresses, words):
    with pytest.raises(ListError, match=words):
        save(tenant.id, name, addresses)


def test_list_pages_crud_and_tenant_isolation(tenant, client):
    other = make_tenant("globex")
    foreign = save(other.id, "office", "x@globex.example")
    db.session.commit()
    login(client)
    page = client.get("/settings/admin/mail/lists/").get_data(as_text=True)
    token = csrf_token(page)
    created = client.post(
        "/settings/admin/mail/lists/", data={"csrf_token": token, "name": "hausmeister", "addresses": "max@example.org"}
    )
    assert created.status_code == 302
    row = db.session.execute(db.select(DistributionList).where(DistributionList.tenant_id == tenant.id)).scalar_one()
    refused = client.post(
        "/settings/admin/mail/lists/", data={"csrf_token": token, "name": "hausmeister", "addresses": "y@example.org"}
    )
    assert refused.status_code == 200 and "already a list named" in refused.get_data(as_text=True)
    edit = client.post(
        f"/settings/admin/mail/lists/{row.id}",
        data={"csrf_token": token, "name": "hausmeister", "addresses": "max@example.org, eva@example.org"},
    )
    assert edit.status_code == 302
    db.session.expire_all()
    assert db.session.get(DistributionList, row.id).addresses == ["max@example.org", "eva@example.org"]
    assert "x@globex.example" not in client.get("/settings/admin/mail/lists/").get_data(as_text=True)
    assert client.get(f"/settings/admin/mail/lists/{foreign.id}").status_code == 404
    assert client.post(f"/settings/admin/mail/lists/{foreign.id}/delete", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/settings/admin/mail/lists/{row.id}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.execute(db.select(DistributionList.tenant_id)).scalars().all() == [other.id]


def test_paused_events_name_the_disabled_plugin(tenant):
    from core.plugin_state import paused_events, set_enabled

    paused = paused_events(tenant.id)
    assert "TICKET_CREATED" not in paused
    assert paused["CONTRACT_SIGNED"] == "paused: the plugin 'vertrag' is disabled for this tenant"
    set_enabled(tenant.id, "ticket", False)
    db.session.commit()
    assert "TICKET_COMMENTED" in paused_events(tenant.id)
