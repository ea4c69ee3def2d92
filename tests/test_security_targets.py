"""Connection targets and passwords in clear (issue 16, items 6 and 7).

Refused addresses are only ever refused here: no test connects to them
(169.254.169.254 never leaves the checks). Everything that does connect
talks to servers on loopback."""

from __future__ import annotations

import socket
import threading

import pytest

from core import targets
from core.crypto import encrypt
from core.mail import oauth
from core.mail.delivery import check_connection
from core.mail.transport import ConfigurationError, DeliveryError
from tests.helpers import login, point_at
from tests.support.ports import free_port
from tests.support.smtp_sink import SmtpSink
from tests.test_admin_settings import form_data, save, stored

BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3 intranet-db7.corp.internal\r\n"


class BannerServer:
    """Another service on a port: says its banner and waits (like sshd)."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.host = "127.0.0.1"
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.sendall(BANNER)
            threading.Timer(3, conn.close).start()

    def close(self):
        self.sock.close()


@pytest.fixture
def banner():
    server = BannerServer()
    yield server
    server.close()


@pytest.fixture
def admin(client, tenant):
    login(client)
    return client


# --- 6. targets refused at save ------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("host", "169.254.169.254"),
        ("host", "[fe80::1]"),
        ("host", "0.0.0.0"),
        ("pop3_host", "169.254.169.254"),
        ("pop3_host", "fd00:ec2::254"),
    ],
)
def test_link_local_and_metadata_servers_are_refused_at_save(admin, tenant, smtp_sink, field, value):
    extra = {"auth": "pop_before_smtp", "pop3_username": "box"} if field == "pop3_host" else {}
    if field == "pop3_host":
        extra["pop3_host"] = value
    else:
        extra["host"] = value
    html = save(admin, form_data(smtp_sink, **extra), status=400).get_data(as_text=True)
    assert "Not allowed as server" in html and "Postwerk does not connect there" in html
    assert stored(tenant.id).host != value


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1@169.254.169.254/latest/meta-data/",
        "http://127.0.0.1.nip.io/",
        "http://localhost.evil.example/",
        "https://169.254.169.254/",
        "https://user:pw@login.example.org/",
        "ftp://login.example.org/",
    ],
)
def test_oauth_provider_urls_are_parsed_not_prefix_tested(admin, tenant, smtp_sink, url):
    html = save(
        admin,
        form_data(smtp_sink, auth="oauth2", username="box@acme.example", oauth_client_id="c", oauth_authority=url),
        status=400,
    ).get_data(as_text=True)
    assert "Not allowed as identity provider URL" in html
    for ok in ("https://login.example.org", "http://127.0.0.1:8080", "http://localhost:9000/"):
        targets.check_url(ok)


def test_a_mailbox_on_a_metadata_address_is_refused_at_save(client, config):
    from core.app import create_app
    from tests.helpers import make_tenant
    from tests.inbound.test_admin import form

    with create_app(config).app_context():
        make_tenant("acme", plugins=("ticket", "inbound_mail"))
    login(client)
    page = client.get("/settings/admin/inbound/new").get_data(as_text=True)
    response = client.post("/settings/admin/inbound/new", data=form(page, host="169.254.169.254"))
    assert "Postwerk does not connect there" in response.get_data(as_text=True)


# --- 6. and again at connect time, after DNS --------------------------------------------------------


def test_a_stored_metadata_host_is_refused_before_any_connection(tenant, ctx):
    settings = point_at(tenant.id, type("T", (), {"host": "169.254.169.254", "port": 80})())
    with pytest.raises(ConfigurationError, match="link-local or cloud metadata"):
        check_connection(settings)
    settings.oauth_provider, settings.oauth_authority = "microsoft", "http://127.0.0.1@169.254.169.254"
    with pytest.raises(oauth.OAuthError, match="refused"):
        oauth._post(oauth.endpoints(settings).token, {})


def test_private_and_loopback_targets_are_refused_after_dns_when_configured(app, tenant, ctx, smtp_sink):
    # "localhost" is a name: only its resolved address shows it is loopback.
    settings = point_at(tenant.id, smtp_sink, host="localhost")
    assert "answered" in check_connection(settings)
    app.config["PRIVATE_TARGETS"] = "refuse"
    with pytest.raises(ConfigurationError, match="loopback address"):
        check_connection(settings)
    with pytest.raises(targets.TargetRefused):
        targets.check_host("10.1.2.3")
    # The installation's allow-list lets an on-premises server through.
    app.config["TARGET_ALLOWLIST"] = ("127.0.0.0/8",)
    assert "answered" in check_connection(settings)


def test_private_and_loopback_targets_are_refused_by_default_outside_development(app, tenant, ctx, smtp_sink, tmp_path):
    from core.config import finalise

    production = {
        "SECRET_KEY": "k",
        "ENCRYPTION_KEYS": [app.config["ENCRYPTION_KEYS"][0]],
        "POSTWERK_ENV": "production",
    }
    assert finalise(dict(production), str(tmp_path))["PRIVATE_TARGETS"] == "refuse"
    # A developer's machine, `postwerk serve` (POSTWERK_ENV=development) and the tests relay locally.
    assert finalise(dict(production, POSTWERK_ENV="development"), str(tmp_path))["PRIVATE_TARGETS"] == "allow"
    assert finalise(dict(production, TESTING=True), str(tmp_path))["PRIVATE_TARGETS"] == "allow"
    assert finalise(dict(production, PRIVATE_TARGETS="allow"), str(tmp_path))["PRIVATE_TARGETS"] == "allow"

    app.config["PRIVATE_TARGETS"] = finalise(dict(production), str(tmp_path))["PRIVATE_TARGETS"]
    settings = point_at(tenant.id, smtp_sink)
    # The error names the setting that lets an on-premises relay through.
    with pytest.raises(ConfigurationError, match="loopback address.*POSTWERK_TARGET_ALLOWLIST"):
        check_connection(settings)
    with pytest.raises(targets.TargetRefused, match="private network address.*POSTWERK_TARGET_ALLOWLIST"):
        targets.check_host("192.168.10.25")
    assert smtp_sink.connections == 0
    app.config["TARGET_ALLOWLIST"] = finalise(dict(production, TARGET_ALLOWLIST="127.0.0.1"), str(tmp_path))[
        "TARGET_ALLOWLIST"
    ]
    assert "answered" in check_connection(settings)


def test_the_settings_form_names_the_allow_list_for_a_refused_relay(app, admin, tenant, smtp_sink):
    app.config["PRIVATE_TARGETS"] = "refuse"
    html = save(admin, form_data(smtp_sink, host="10.0.0.25"), status=400).get_data(as_text=True)
    assert "Not allowed as server" in html and "POSTWERK_TARGET_ALLOWLIST" in html
    assert stored(tenant.id).host == "127.0.0.1"


# --- 6. "Test connection" is no port scanner and no banner grabber ------------------------------------


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_the_smtp_check_tells_no_closed_port_from_another_services_banner(tenant, ctx, banner, security):
    words = []
    for port in (banner.port, free_port()):
        settings = point_at(tenant.id, banner, port=port, security=security)
        with pytest.raises(DeliveryError) as caught:
            check_connection(settings)
        words.append(caught.value.text.replace(str(port), "PORT"))
    assert banner.connections == 1
    assert words[0] == words[1] and words[0].startswith("cannot connect to 127.0.0.1:PORT: no SMTP server answered")
    assert "OpenSSH" not in words[0] and "version" not in words[0]


@pytest.mark.parametrize("protocol, security", [("imap", "none"), ("pop3", "none"), ("imap", "ssl"), ("pop3", "ssl")])
def test_the_mailbox_check_tells_no_closed_port_from_another_services_banner(tenant, ctx, banner, protocol, security):
    from plugins.inbound_mail.connections import MailboxError, open_source
    from plugins.inbound_mail.models import Mailbox

    words = []
    for port in (banner.port, free_port()):
        mailbox = Mailbox(
            tenant_id=tenant.id,
            name="x",
            protocol=protocol,
            host="127.0.0.1",
            port=port,
            security=security,
            username="u",
            folder="INBOX",
            leave_on_server=True,
        )
        with pytest.raises(MailboxError) as caught:
            open_source(mailbox, timeout=2)
        words.append(str(caught.value).replace(str(port), "PORT"))
    assert "OpenSSH" not in words[0] and "intranet" not in words[0]
    assert words[0] == words[1]


# --- 7. passwords never travel in clear to another machine ---------------------------------------------


def test_no_tls_with_a_password_is_refused_off_loopback(admin, tenant, smtp_sink):
    html = save(
        admin,
        form_data(
            smtp_sink, host="smtp.acme.example", security="none", auth="password", username="mailer", password="pw"
        ),
        status=400,
    ).get_data(as_text=True)
    assert "Without TLS the password would cross the network in clear" in html
    html = save(
        admin,
        form_data(
            smtp_sink, auth="pop_before_smtp", pop3_host="pop.acme.example", pop3_security="none", pop3_username="box"
        ),
        status=400,
    ).get_data(as_text=True)
    assert "Without TLS the POP3 password would cross the network in clear" in html
    # Stored before this check (or written directly): refused before connecting.
    settings = point_at(
        tenant.id,
        smtp_sink,
        host="smtp.acme.example",
        auth="password",
        username="mailer",
        password_encrypted=encrypt("pw"),
    )
    with pytest.raises(ConfigurationError, match="cross the network in clear"):
        check_connection(settings)


def test_starttls_if_offered_never_sends_the_login_without_tls(tenant, ctx):
    with SmtpSink(auth={"mailer": "pw-Secret-1"}) as sink:
        attempts = []
        authenticate = sink._authenticate
        sink._authenticate = lambda *args: attempts.append(args) or authenticate(*args)
        settings = point_at(
            tenant.id,
            sink,
            security="starttls_optional",
            auth="password",
            username="mailer",
            password_encrypted=encrypt("pw-Secret-1"),
        )
        with pytest.raises(ConfigurationError, match="never sent in clear"):
            check_connection(settings)
        assert attempts == []
