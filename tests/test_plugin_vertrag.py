"""The vertrag plugin: contract events to both parties, each in their language;
disabling a plugin at run time."""

from __future__ import annotations

from datetime import date

import pytest

from core.extensions import db
from core.mail.expansion import plan
from core.models import Event, EventStatus, Message, Rule, Template
from core.plugin_state import set_enabled
from core.plugins import PluginDisabledError
from core.tenancy import tenant_ref
from plugins.vertrag import service
from plugins.vertrag.models import Contract
from tests.helpers import by_recipient, csrf_token, login, make_tenant

CONTRACT = dict(
    number="MV-2026-017",
    property_address="Lindenstraße 5, 10115 Berlin",
    start_date=date(2026, 12, 1),
    end_date=None,
    rent="850,50 €",
    mieter_name="Jane Renter",
    mieter_salutation="Ms",
    mieter_email="jane@example.org",
    mieter_language="en",
    vermieter_name="Hans Vermieter",
    vermieter_salutation="Herr",
    vermieter_email="hans@example.org",
    vermieter_language="de",
)


@pytest.fixture
def estate(ctx, smtp_sink):
    return make_tenant("acme", smtp_sink, plugins=("vertrag",))


def _contract(tenant_id, **kw):
    contract = service.create_contract(tenant_id, **dict(CONTRACT, **kw))
    db.session.commit()
    return contract


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_each_contract_event_reaches_both_parties_in_their_language(estate, smtp_sink, run_worker):
    contract = _contract(estate.id)
    service.sign(estate.id, contract.id)
    db.session.commit()
    service.terminate(estate.id, contract.id, end_date=date(2027, 11, 30), reason="Eigenbedarf")
    db.session.commit()
    run_worker()
    received = smtp_sink.wait_for(6)
    got = sorted((m.rcpt_tos[0], str(m.message["Subject"])) for m in received)
    assert got == [
        ("hans@example.org", "Mietvertrag MV-2026-017 angelegt"),
        ("hans@example.org", "Mietvertrag MV-2026-017 gekündigt"),
        ("hans@example.org", "Mietvertrag MV-2026-017 unterschrieben"),
        ("jane@example.org", "Rental contract MV-2026-017 drawn up"),
        ("jane@example.org", "Rental contract MV-2026-017 signed"),
        ("jane@example.org", "Rental contract MV-2026-017 terminated"),
    ]
    last = by_recipient(
        [m for m in received if "gekündigt" in str(m.message["Subject"]) or "terminated" in str(m.message["Subject"])]
    )
    subject, text, html = last["hans@example.org"]
    assert "Guten Tag Hans Vermieter" in text and "endet am 2027-11-30. Grund: Eigenbedarf" in text
    assert "850.50 EUR" in text and "Jane Renter" in text and "Lindenstraße 5, 10115 Berlin" in html
    subject, text, html = last["jane@example.org"]
    assert "Hello Jane Renter" in text and "ends on 2027-11-30. Reason: Eigenbedarf" in text
    assert "Acme GmbH" in html and "#1f6feb" in html


def test_contract_rules_are_inactive_until_an_admin_switches_them_on(ctx, smtp_sink, run_worker):
    tenant = make_tenant("acme", smtp_sink, plugins=("vertrag",), activate_rules=False)
    rules = db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant.id)).scalars().all()
    assert len(rules) == 6 and not any(r.active for r in rules)
    templates = db.session.execute(
        db.select(Template.key, Template.language).where(Template.key.like("contract%"))
    ).all()
    assert len(templates) == 6  # besides the core's system mail templates every tenant has
    _contract(tenant.id)
    run_worker()
    assert db.session.execute(db.select(Message)).first() is None


def test_bad_contract_input_is_refused_with_its_reason(estate):
    with pytest.raises(service.ContractError, match="not an amount"):
        _contract(estate.id, rent="viel")
    db.session.rollback()
    with pytest.raises(service.ContractError, match="mieter e-mail"):
        _contract(estate.id, mieter_email="jane")
    db.session.rollback()
    contract = _contract(estate.id)
    with pytest.raises(service.ContractError, match="already a contract numbered"):
        _contract(estate.id)
    db.session.rollback()
    with pytest.raises(service.ContractError, match="only a signed contract"):
        service.terminate(estate.id, contract.id, end_date=date(2027, 1, 1))


def test_disabling_at_run_time_refuses_events_and_stops_rules_keeping_data(estate, smtp_sink, run_worker):
    contract = _contract(estate.id)  # emitted while enabled, not yet expanded
    set_enabled(estate.id, "vertrag", False)
    db.session.commit()
    with pytest.raises(PluginDisabledError, match="vertrag"):
        service.sign(estate.id, contract.id)
    db.session.rollback()
    # The already-recorded event meets disabled rules: nothing is sent.
    reasons = {p.reason for p in plan(tenant_ref(estate), "CONTRACT_CREATED", {})}
    assert reasons == {"the plugin 'vertrag' is disabled for this tenant"}
    run_worker()
    assert db.session.execute(db.select(Event.status)).scalar_one() == EventStatus.EXPANDED
    assert db.session.execute(db.select(Message)).first() is None
    assert smtp_sink.messages == []
    # Data and rules are kept; enabling again does not duplicate them.
    set_enabled(estate.id, "vertrag", True)
    db.session.commit()
    assert db.session.get(Contract, contract.id).status == "draft"
    assert db.session.execute(db.select(db.func.count()).select_from(Rule)).scalar() == 6
    assert all(db.session.execute(db.select(Rule.active)).scalars())
    service.sign(estate.id, contract.id)
    db.session.commit()
    run_worker()
    assert len(smtp_sink.wait_for(2)) == 2


def test_contract_pages_create_edit_sign_and_isolate_tenants(estate, client):
    other = make_tenant("globex", plugins=("vertrag",))
    foreign = _contract(other.id)
    login(client)
    page = client.get("/contracts/")
    form = {k: v for k, v in CONTRACT.items() if v is not None}
    form.update(start_date="2026-12-01", csrf_token=csrf_token(page.get_data(as_text=True)))
    response = client.post("/contracts/", data=form)
    assert response.status_code == 302
    contract = db.session.execute(db.select(Contract).where(Contract.tenant_id == estate.id)).scalar_one()
    assert contract.rent_cents == 85050
    detail = client.get(f"/contracts/{contract.id}").get_data(as_text=True)
    edited = dict(form, rent="900", csrf_token=csrf_token(detail))
    assert client.post(f"/contracts/{contract.id}", data=edited).status_code == 302
    assert client.post(f"/contracts/{contract.id}/sign", data={"csrf_token": csrf_token(detail)}).status_code == 302
    db.session.expire_all()
    contract = db.session.get(Contract, contract.id)
    assert (contract.rent_cents, contract.status) == (90000, "signed")
    assert client.get(f"/contracts/{foreign.id}").status_code == 404
    assert client.post(f"/contracts/{foreign.id}/sign", data={"csrf_token": csrf_token(detail)}).status_code == 404
    assert db.session.get(Contract, foreign.id).status == "draft"
