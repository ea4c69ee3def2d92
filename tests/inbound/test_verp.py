"""VERP end to end: with a bounce address, each message leaves through the
real aiosmtpd sink with its own signed envelope sender; a bounce to that
address in the tenant's Dovecot mailbox marks exactly that message BOUNCED,
and a made-up or altered return path marks nothing."""

from __future__ import annotations

import re

import pytest

from core.extensions import db
from core.mail import return_path
from core.models import Message, MessageStatus
from core.models.suppression import SuppressedAddress
from plugins.inbound_mail.models import SeenMail
from plugins.inbound_mail.poller import poll_mailbox
from tests.helpers import point_at
from tests.sending_helpers import deliver, queue_message

from .support import make_mailbox
from .test_bounces import dsn, exim_bounce


def _delivered_to(address: str, raw: bytes) -> bytes:
    # What the receiving server writes on top when it files the bounce.
    return f"Delivered-To: {address}\r\nX-Original-To: {address}\r\n".encode() + raw


def _send_two(acme, smtp_sink, **settings) -> tuple[Message, Message, dict[str, str]]:
    point_at(acme.id, smtp_sink, **settings)
    first = queue_message(acme.id, recipients=("weg@mieter.example",))
    second = queue_message(acme.id, recipients=("da@mieter.example",))
    assert deliver(acme.id).sent == 2
    envelopes = {m.rcpt_tos[0]: m.mail_from for m in smtp_sink.wait_for(2)}
    return first, second, envelopes


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_a_bounce_to_the_verp_return_path_marks_that_message_bounced(acme, dovecot, mail_user, smtp_sink, recorder):
    first, second, envelopes = _send_two(
        acme, smtp_sink, bounce_address="bounce@acme.example", sender_address="service@acme.example"
    )
    first_id, second_id = first.id, second.id
    # The envelope names the message; the header sender stays the tenant's.
    assert re.fullmatch(rf"bounce\+{first_id}-[0-9a-f]{{12}}@acme\.example", envelopes["weg@mieter.example"])
    assert re.fullmatch(rf"bounce\+{second_id}-[0-9a-f]{{12}}@acme\.example", envelopes["da@mieter.example"])
    assert envelopes["weg@mieter.example"] != envelopes["da@mieter.example"].replace(str(second_id), str(first_id))
    assert {m.message["From"].addresses[0].addr_spec for m in smtp_sink.messages} == {"service@acme.example"}

    # Exim's bounce quotes no Message-ID: only the return path says which message it was.
    dovecot.deliver(
        mail_user,
        _delivered_to(envelopes["weg@mieter.example"], exim_bounce("weg@mieter.example", "bounce@acme.example")),
    )
    assert "1 bounce" in poll_mailbox(make_mailbox(acme.id, dovecot, mail_user).id)

    db.session.expire_all()
    assert db.session.get(Message, first_id).status == MessageStatus.BOUNCED
    assert db.session.get(Message, second_id).status == MessageStatus.SENT
    assert [(m, s) for m, s, _ in recorder.outcomes if s == "BOUNCED"] == [(first_id, "BOUNCED")]
    assert db.session.execute(db.select(SuppressedAddress.address)).scalars().all() == ["weg@mieter.example"]
    assert f"message {first_id}" in db.session.execute(db.select(SeenMail.detail)).scalar_one()


def test_without_a_bounce_address_the_envelope_sender_is_the_sender_address(acme, smtp_sink):
    _, _, envelopes = _send_two(acme, smtp_sink, sender_address="service@acme.example")
    assert set(envelopes.values()) == {"service@acme.example"}


@pytest.mark.parametrize(
    "forge",
    [
        lambda real, pk: f"bounce+{pk}@acme.example",  # the unsigned form
        lambda real, pk: re.sub(r"-[0-9a-f]{12}@", "-000000000000@", real),  # a guessed tag
        lambda real, pk: real.replace(f"+{pk - 1}-", f"+{pk}-"),  # another message's tag
    ],
    ids=["unsigned", "guessed-tag", "other-message-tag"],
)
def test_a_forged_return_path_marks_nothing(acme, dovecot, mail_user, smtp_sink, forge):
    first, second, envelopes = _send_two(acme, smtp_sink, bounce_address="bounce@acme.example")
    second_id = second.id
    forged = forge(envelopes["weg@mieter.example"], second_id)
    assert forged != envelopes["da@mieter.example"]
    # A forged bounce of someone else's message, quoting no Message-ID.
    dovecot.deliver(mail_user, _delivered_to(forged, exim_bounce("da@mieter.example", forged)))
    assert "1 bounce" in poll_mailbox(make_mailbox(acme.id, dovecot, mail_user).id)

    db.session.expire_all()
    assert db.session.get(Message, second_id).status == MessageStatus.SENT
    assert "no message of ours" in db.session.execute(db.select(SeenMail.detail)).scalar_one()


def test_the_tag_is_bound_to_the_tenant(acme, ctx):
    mine = return_path.for_message("bounce@acme.example", acme.id, 7)
    assert return_path.message_of(acme.id, f"Delivered-To: {mine}") == 7
    assert return_path.message_of(acme.id + 1, f"Delivered-To: {mine}") is None
    assert return_path.message_of(acme.id, f"Delivered-To: {mine.upper()}") == 7  # servers may change case


def test_a_dsn_to_the_return_path_is_matched_even_when_it_quotes_another_message_id(
    acme, dovecot, mail_user, smtp_sink
):
    first, _, envelopes = _send_two(acme, smtp_sink, bounce_address="bounce@acme.example")
    first_id = first.id
    dovecot.deliver(
        mail_user,
        _delivered_to(
            envelopes["weg@mieter.example"],
            dsn("weg@mieter.example", returned_id="<not-ours@elsewhere.example>", to=envelopes["weg@mieter.example"]),
        ),
    )
    assert "1 bounce" in poll_mailbox(make_mailbox(acme.id, dovecot, mail_user).id)
    db.session.expire_all()
    assert db.session.get(Message, first_id).status == MessageStatus.BOUNCED


@pytest.mark.parametrize(
    "value, words",
    [
        ("bounce+x@acme.example", "no '+'"),
        ("bounce", "looks like bounce@example.org"),
        ("bounce@acme", "looks like bounce@example.org"),
        ("b" * 40 + "@acme.example", "at most 32 characters"),
        ("bün@acme.example", "only ASCII"),
    ],
)
def test_a_bad_bounce_address_is_refused_where_it_is_entered(value, words):
    with pytest.raises(return_path.BounceAddressError, match=re.escape(words)):
        return_path.check(value)
    assert return_path.check(" Bounce@ACME.example ") == "Bounce@acme.example"
