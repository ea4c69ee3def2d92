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

    rule = Rule(tenant_id=tenant.id, name="Not yet", event="TICKET_CREATED", recipient="role:reporter",
                template_key="ticket_created", active=False)
    db.session.add(rule)
    db.session.commit()
    response = _post(admin, "/settings/admin/mail/rules/dryrun", {"target": f"rule:{rule.id}", "source": "sample"},
                     "/settings/admin/mail/rules/dryrun")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "(rule is off)" in html and "erika@example.org" in html
    assert "Heizung im Bad" in html  # the rendered subject of the sample ticket
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).active is False
    assert db.session.execute(db.select(db.func.count()).select_from(Message)).scalar() == 0
