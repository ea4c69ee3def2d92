"""The homepage plugin: the public inquiry form, its spam protections and its mails."""

from __future__ import annotations

import pytest

from core.distribution_lists import save as save_list
from core.extensions import db
from core.models import Event
from core.plugin_state import set_enabled
from plugins.homepage.models import Inquiry
from plugins.homepage.service import set_office_address
from tests.helpers import by_recipient, csrf_token, login, make_tenant

FORM = {
    "name": "Erika Mustermann",
    "email": "erika@example.org",
    "phone": "+49 30 1234567",
    "message": "Ist die Wohnung noch frei?",
    "property_ref": "Lindenstraße 5, WE 3",
}


@pytest.fixture
def site(ctx, smtp_sink):
    tenant = make_tenant("acme", smtp_sink, plugins=("homepage",))
    set_office_address(tenant.id, "buero@acme-hv.example")
    db.session.commit()
    return tenant


def _send(client, slug="acme", lang=None, address="203.0.113.7", **overrides):
    environ = {"REMOTE_ADDR": address}
    page = client.get(f"/t/{slug}/inquiry" + (f"?lang={lang}" if lang else ""), environ_base=environ)
    assert page.status_code == 200
    data = dict(FORM, csrf_token=csrf_token(page.get_data(as_text=True)), lang=lang or "")
    data.update(overrides)
    return client.post(f"/t/{slug}/inquiry", data=data, environ_base=environ)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_inquiry_is_stored_and_mailed_to_inquirer_and_office(site, client, smtp_sink, run_worker):
    response = _send(client)
    assert response.status_code == 302 and response.headers["Location"].startswith("/t/acme/inquiry/thanks")
    inquiry = db.session.execute(db.select(Inquiry)).scalar_one()
    assert (inquiry.tenant_id, inquiry.name, inquiry.property_ref) == (
        site.id,
        "Erika Mustermann",
        "Lindenstraße 5, WE 3",
    )
    run_worker()
    mails = by_recipient(smtp_sink.wait_for(2))
    subject, text, html = mails["erika@example.org"]
    assert subject == "Ihre Anfrage bei Acme GmbH"
    assert "Guten Tag Erika Mustermann" in text and "zu Lindenstraße 5, WE 3" in text
    assert "Ist die Wohnung noch frei?" in html and "#1f6feb" in html
    subject, text, html = mails["buero@acme-hv.example"]
    assert subject == "Neue Anfrage von Erika Mustermann"
    assert "+49 30 1234567" in text and f"http://localhost/inquiries/{inquiry.id}" in text
    assert inquiry.created_at.strftime("%Y-%m-%d %H:%M UTC") in text


def test_english_form_confirms_in_english_and_office_falls_back_to_the_list(site, client, smtp_sink, run_worker):
    set_office_address(site.id, "")
    save_list(site.id, "office", "a@acme-hv.example, b@acme-hv.example")
    db.session.commit()
    response = _send(client, lang="en", phone="")
    assert response.status_code == 302
    run_worker()
    mails = by_recipient(smtp_sink.wait_for(3))
    assert set(mails) == {"erika@example.org", "a@acme-hv.example", "b@acme-hv.example"}
    subject, text, _ = mails["erika@example.org"]
    assert subject == "Your inquiry to Acme GmbH" and "Hello Erika Mustermann" in text
    # The office reads in the tenant's language (de).
    assert mails["a@acme-hv.example"][0] == "Neue Anfrage von Erika Mustermann"
    assert "Telefon: –" in mails["a@acme-hv.example"][1]


def test_honeypot_fills_are_answered_like_success_but_nothing_is_kept(site, client):
    response = _send(client, website="http://spam.example")
    assert response.status_code == 302
    assert db.session.execute(db.select(Inquiry)).first() is None
    assert db.session.execute(db.select(Event)).first() is None


def test_post_without_csrf_token_is_refused(site, client):
    response = client.post("/t/acme/inquiry", data=FORM)
    assert response.status_code == 400
    assert db.session.execute(db.select(Inquiry)).first() is None


def test_invalid_input_is_named_and_not_stored(site, client):
    response = _send(client, email="not-an-address", phone="call me")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Invalid email address" in page and "digits, spaces" in page
    assert db.session.execute(db.select(Inquiry)).first() is None


def test_rate_limit_per_client_address_with_real_redis(site, app, client):
    app.config["HOMEPAGE_INQUIRY_LIMIT"] = 2
    # A day-long fixed window: the test cannot straddle a window boundary in practice.
    app.config["HOMEPAGE_INQUIRY_WINDOW"] = 86400
    assert _send(client).status_code == 302
    assert _send(client).status_code == 302
    refused = _send(client)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "86400"
    assert "Zu viele Anfragen" in refused.get_data(as_text=True)
    # Another client is not affected.
    assert _send(client, address="198.51.100.9").status_code == 302
    assert db.session.execute(db.select(db.func.count()).select_from(Inquiry)).scalar() == 3


def test_confirmations_to_one_address_are_limited_whoever_asks(site, app, client):
    """Issue 16: one client made Postwerk mail ten confirmations quoting spam
    to one third party; changing client address does not help."""
    app.config["HOMEPAGE_INQUIRY_ADDRESS_LIMIT"] = 2
    assert _send(client, address="198.51.100.1").status_code == 302
    assert _send(client, address="198.51.100.2").status_code == 302
    refused = _send(client, address="198.51.100.3", email=FORM["email"].upper())
    assert refused.status_code == 429 and "Für diese E-Mail-Adresse" in refused.get_data(as_text=True)
    assert _send(client, address="198.51.100.4", email="someone.else@example.org").status_code == 302
    assert db.session.execute(db.select(db.func.count()).select_from(Inquiry)).scalar() == 3


def test_unknown_tenant_or_disabled_plugin_is_404(site, client):
    other = make_tenant("globex", plugins=())
    assert client.get("/t/nobody/inquiry").status_code == 404
    assert client.get(f"/t/{other.slug}/inquiry").status_code == 404
    set_enabled(site.id, "homepage", False)
    db.session.commit()
    assert client.get("/t/acme/inquiry").status_code == 404


def test_admin_list_shows_own_inquiries_only(site, client):
    _send(client)
    other = make_tenant("globex", plugins=("homepage",))
    _send(client, slug="globex", name="Fremder Mensch", address="198.51.100.1")
    mine, theirs = db.session.execute(db.select(Inquiry).order_by(Inquiry.id)).scalars().all()
    assert theirs.tenant_id == other.id
    login(client)
    page = client.get("/inquiries/").get_data(as_text=True)
    assert "Erika Mustermann" in page and "Fremder Mensch" not in page
    assert client.get(f"/inquiries/{mine.id}").status_code == 200
    assert client.get(f"/inquiries/{theirs.id}").status_code == 404
