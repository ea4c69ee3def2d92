""" "Same login as the incoming mailbox" never sends the mailbox password to a
server it was not saved for (issue 16, item 4).

The mailbox's own server is a real SMTP sink reached as 127.0.0.1; the
"other" server is a second real sink reached as ``localhost``: another
host name, so to Postwerk another server. Every AUTH either sink sees is
recorded.
"""

from __future__ import annotations

import pytest

from core.api import MailboxLogin, hookimpl
from core.app import create_app
from core.extensions import db
from core.mail.delivery import check_connection
from core.mail.transport import ConfigurationError
from core.plugin_state import set_enabled
from tests.helpers import login, make_tenant, point_at
from tests.support.smtp_sink import SmtpSink
from tests.test_admin_settings import form_data, save, stored

USER, PASSWORD = "box@acme.example", "inbound-pw"
CHECK = "/settings/admin/mail/settings/check"


class MailboxPlugin:
    """Stands in for the inbound_mail plugin: a mailbox saved for 127.0.0.1."""

    answer = MailboxLogin(USER, PASSWORD, host="127.0.0.1")

    @hookimpl
    def postwerk_mailbox_credentials(self, tenant):
        return self.answer


class Recording(SmtpSink):
    """A real SMTP sink that remembers every login attempt."""

    def __init__(self):
        super().__init__(auth={USER: PASSWORD})
        self.logins = []
        authenticate = self._authenticate
        self._authenticate = lambda *args: self.logins.append(args) or authenticate(*args)


@pytest.fixture
def setup(config):
    plugin = MailboxPlugin()
    app = create_app(config, extra_plugins={"mailbox_test": plugin})
    with app.app_context(), Recording() as own, Recording() as other:
        tenant = make_tenant("acme", own)
        set_enabled(tenant.id, "mailbox_test", True)
        client = app.test_client()
        login(client)
        yield app, client, tenant, own, other, plugin
        db.session.remove()
        db.engine.dispose()


def elsewhere(sink, **extra):
    return form_data(sink, host="localhost", auth="inbound", **extra)


def test_a_changed_smtp_host_never_gets_the_mailbox_password(setup):
    app, client, tenant, own, other, _ = setup
    save(client, form_data(own, auth="inbound"))  # the mailbox's own server: no question
    assert "logged in as box@acme.example" in check_connection(stored(tenant.id))

    # Another host, the mailbox password not entered: refused in the form, nothing saved.
    html = save(client, elsewhere(other), status=400).get_data(as_text=True)
    assert "Nothing was saved" in html
    assert "saved for its own server (127.0.0.1), not for localhost:%d" % other.port in html
    assert stored(tenant.id).host == "127.0.0.1"

    # Stored anyway (before this check, or written directly): "Test connection"
    # and delivery refuse before connecting; the other server sees no login.
    point_at(tenant.id, other, host="localhost", auth="inbound")
    with pytest.raises(ConfigurationError, match="not for localhost:%d" % other.port):
        check_connection(stored(tenant.id))
    html = save(client, {"id": "check"}, status=200, url=CHECK).get_data(as_text=True)
    assert "No connection." in html and "saved for its own server 127.0.0.1" in html
    assert other.logins == [] and other.connections == 0


def test_the_admin_allows_another_server_by_typing_the_mailbox_password(setup):
    app, client, tenant, own, other, _ = setup
    html = save(client, elsewhere(other, inbound_password="guess"), status=400).get_data(as_text=True)
    assert "This is not the incoming mailbox&#39;s password" in html
    assert stored(tenant.id).inbound_login_confirmed_for is None

    save(client, elsewhere(other, inbound_password=PASSWORD))
    settings = stored(tenant.id)
    assert settings.inbound_login_confirmed_for == f"localhost:{other.port}"
    assert "logged in as box@acme.example" in check_connection(settings)
    assert len(other.logins) == 1

    # Saved again unchanged: the permission stays.
    save(client, elsewhere(other))
    assert stored(tenant.id).inbound_login_confirmed_for == f"localhost:{other.port}"

    # Another port on that host is another server: the permission is gone.
    with Recording() as third:
        html = save(client, elsewhere(third), status=400).get_data(as_text=True)
        assert "not for localhost:%d" % third.port in html
        point_at(tenant.id, third, host="localhost", auth="inbound")
        with pytest.raises(ConfigurationError, match="saved for its own server"):
            check_connection(stored(tenant.id))
        assert third.logins == []

    # Back to the mailbox's own server: the old permission is dropped on the way.
    save(client, form_data(own, auth="inbound"))
    assert stored(tenant.id).inbound_login_confirmed_for is None


def test_a_login_without_a_host_always_needs_the_admins_confirmation(setup):
    """A plugin written before MailboxLogin.host returns a bare tuple."""
    app, client, tenant, own, other, plugin = setup
    plugin.answer = (USER, PASSWORD)
    html = save(client, form_data(own, auth="inbound"), status=400).get_data(as_text=True)
    assert "saved for its own server (unknown)" in html
    point_at(tenant.id, own, auth="inbound")
    with pytest.raises(ConfigurationError, match="saved for its own server, not for"):
        check_connection(stored(tenant.id))
    assert own.logins == []
    save(client, form_data(own, auth="inbound", inbound_password=PASSWORD))
    assert "logged in as box@acme.example" in check_connection(stored(tenant.id))
