"""The ticket plugin: status changes, comments, roles, attachments, inbound mail."""

from __future__ import annotations

import io

import pytest

from core.api import InboundAttachment, InboundMail, InboundResult
from core.extensions import db
from core.models import Event, Message, User
from core.tenancy import tenant_ref
from plugins.ticket import service
from plugins.ticket.inbound import handle
from plugins.ticket.models import Ticket, TicketAttachment, TicketComment
from tests.helpers import by_recipient, csrf_token, login, make_tenant


def _staff(tenant_id, email="max@example.org", name="Max Hausmeister", language="en"):
    user = User(tenant_id=tenant_id, email=email, name=name, is_admin=False, language=language)
    user.set_password("x" * 12)
    db.session.add(user)
    db.session.commit()
    return user


def _ticket(tenant_id, **kw):
    values = dict(
        title="Heizung fällt aus",
        description="Bad kalt",
        reporter_name="Erika Mustermann",
        reporter_email="erika@example.org",
        reporter_language="de",
    )
    values.update(kw)
    ticket = service.create_ticket(tenant_id, **values)
    db.session.commit()
    return ticket


def _mail(subject, *, sender="erika@example.org", text="Danke, Montag passt.", attachments=()):
    return InboundMail(
        mailbox="support",
        message_id="<m1@example.org>",
        from_address=sender,
        from_name="Erika Mustermann",
        to=("support@acme.example",),
        subject=subject,
        text=text,
        attachments=tuple(attachments),
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_status_change_reaches_reporter_and_watchers_with_old_and_new_status(tenant, smtp_sink, run_worker):
    ticket = _ticket(tenant.id, watchers=("verwaltung@example.org",))
    run_worker()
    smtp_sink.wait_for(1)
    smtp_sink.messages.clear()
    service.change_status(tenant.id, ticket.id, "in_progress")
    db.session.commit()
    run_worker()
    mails = by_recipient(smtp_sink.wait_for(2))
    assert set(mails) == {"erika@example.org", "verwaltung@example.org"}
    subject, text, html = mails["erika@example.org"]
    assert subject == f"[#{ticket.id}] Neuer Status: in Bearbeitung – Heizung fällt aus"
    assert "von offen zu in Bearbeitung" in text and "Hallo Erika Mustermann" in text
    assert "<strong>in Bearbeitung</strong>" in html and "Acme GmbH" in html
    event = db.session.execute(db.select(Event).where(Event.key == "TICKET_STATUS_CHANGED")).scalar_one()
    assert event.payload["ticket"]["old_status"] == "open" and event.payload["ticket"]["status"] == "in_progress"


def test_status_change_in_english_for_an_english_reporter(tenant, smtp_sink, run_worker):
    ticket = _ticket(tenant.id, reporter_language="en", title="Heating broken")
    service.change_status(tenant.id, ticket.id, "closed")
    db.session.commit()
    run_worker()
    mails = smtp_sink.wait_for(2)
    subjects = sorted(str(m.message["Subject"]) for m in mails)
    assert subjects == [
        f"[#{ticket.id}] New status: closed – Heating broken",
        f"[#{ticket.id}] Your report: Heating broken",
    ]


def test_setting_the_same_status_emits_nothing(tenant):
    ticket = _ticket(tenant.id)
    service.change_status(tenant.id, ticket.id, "open")
    with pytest.raises(service.TicketError, match="unknown status"):
        service.change_status(tenant.id, ticket.id, "done")
    db.session.commit()
    assert db.session.execute(db.select(Event.key)).scalars().all() == ["TICKET_CREATED"]


def test_comment_goes_to_reporter_and_assignee_but_not_to_its_author(tenant, smtp_sink, run_worker):
    staff = _staff(tenant.id)
    ticket = _ticket(tenant.id, assignee_id=staff.id)
    service.add_comment(
        tenant.id,
        ticket.id,
        author_name="Max Hausmeister",
        author_email="max@example.org",
        body="Der Techniker kommt am Montag.",
    )
    service.add_comment(
        tenant.id,
        ticket.id,
        author_name="Erika Mustermann",
        author_email="erika@example.org",
        body="Montag passt.",
        source="mail",
    )
    db.session.commit()
    run_worker()
    received = smtp_sink.wait_for(3)
    comments = [
        m for m in received if "Kommentar" in str(m.message["Subject"]) or "comment" in str(m.message["Subject"])
    ]
    got = sorted((m.rcpt_tos[0], str(m.message["Subject"])) for m in comments)
    assert got == [
        ("erika@example.org", f"[#{ticket.id}] Neuer Kommentar: Heizung fällt aus"),
        ("max@example.org", f"[#{ticket.id}] New comment: Heizung fällt aus"),
    ]
    erika = next(m for m in comments if m.rcpt_tos == ["erika@example.org"]).message
    assert "Max Hausmeister hat die Meldung kommentiert" in erika.get_body(("plain",)).get_content()
    assert "Der Techniker kommt am Montag." in erika.get_body(("html",)).get_content()
    max_mail = next(m for m in comments if m.rcpt_tos == ["max@example.org"]).message
    assert "Montag passt." in max_mail.get_body(("plain",)).get_content()


def test_assignee_must_belong_to_the_tenant(tenant, smtp_sink):
    other = make_tenant("globex")
    stranger = db.session.execute(db.select(User).where(User.tenant_id == other.id)).scalar_one()
    with pytest.raises(service.TicketError, match="user of this tenant"):
        _ticket(tenant.id, assignee_id=stranger.id)


def test_inbound_reply_with_number_becomes_a_mail_comment(tenant):
    ticket = _ticket(tenant.id)
    service.change_status(tenant.id, ticket.id, "waiting")
    db.session.commit()
    result = handle(
        tenant_ref(tenant),
        _mail(
            f"Re: [#{ticket.id}] Ihre Meldung: Heizung fällt aus",
            attachments=[InboundAttachment("foto.jpg", "image/jpeg", b"\xff\xd8")],
        ),
    )
    db.session.commit()
    comment = db.session.execute(db.select(TicketComment)).scalar_one()
    # The mail is not authenticated: the comment is marked, and the result says so.
    assert result == InboundResult(
        "comment", str(comment.id), f"ticket {ticket.id}; sender not verified", link=f"/tickets/{ticket.id}"
    )
    assert comment.sender_verified is False
    assert (comment.source, comment.body, comment.author_email) == ("mail", "Danke, Montag passt.", "erika@example.org")
    attachment = db.session.execute(db.select(TicketAttachment)).scalar_one()
    assert (attachment.comment_id, attachment.filename, attachment.content) == (comment.id, "foto.jpg", b"\xff\xd8")
    # The status stays as staff set it; the assignee and watchers learn of the reply by TICKET_COMMENTED.
    assert db.session.get(Ticket, ticket.id).status == "waiting"
    keys = db.session.execute(db.select(Event.key).order_by(Event.id)).scalars().all()
    assert keys == ["TICKET_CREATED", "TICKET_STATUS_CHANGED", "TICKET_COMMENTED"]


def test_inbound_mail_without_a_known_number_opens_a_ticket(tenant):
    other = make_tenant("globex")
    foreign = _ticket(other.id)
    result = handle(
        tenant_ref(tenant),
        _mail(
            f"[#{foreign.id}] Wasserschaden im Keller",
            sender="neu@example.org",
            attachments=[
                InboundAttachment("big.bin", "application/octet-stream", b"x" * (service.MAX_ATTACHMENT_BYTES + 1))
            ],
        ),
    )
    db.session.commit()
    assert result.kind == "ticket" and "big.bin" in result.detail
    ticket = db.session.get(Ticket, int(result.reference))
    assert ticket.tenant_id == tenant.id and ticket.id != foreign.id
    assert (ticket.title, ticket.reporter_email, ticket.description) == (
        "Wasserschaden im Keller",
        "neu@example.org",
        "Danke, Montag passt.",
    )
    assert db.session.execute(db.select(TicketComment)).first() is None
    assert db.session.execute(db.select(TicketAttachment)).first() is None


def test_hook_is_reachable_through_the_registry(tenant):
    from core.plugins import registry

    ticket = _ticket(tenant.id)
    result = registry().hook("postwerk_inbound_mail", tenant.id)(
        tenant=tenant_ref(tenant), mail=_mail(f"AW: [#{ticket.id}]")
    )
    assert result.kind == "comment"


def test_ticket_page_comment_with_attachment_and_tenant_isolation(tenant, client):
    ticket = _ticket(tenant.id)
    other = make_tenant("globex")
    foreign = _ticket(other.id)
    login(client)
    page = client.get(f"/tickets/{ticket.id}")
    assert page.status_code == 200
    assert client.get(f"/tickets/{foreign.id}").status_code == 404
    response = client.post(
        f"/tickets/{ticket.id}/comments",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "body": "Foto anbei",
            "attachment": (io.BytesIO(b"<script>alert(1)</script>"), "../../evil.html"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    attachment = db.session.execute(db.select(TicketAttachment)).scalar_one()
    assert attachment.filename == "evil.html"
    download = client.get(f"/tickets/{ticket.id}/attachments/{attachment.id}")
    assert download.data == b"<script>alert(1)</script>"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.mimetype == "application/octet-stream"
    assert client.get(f"/tickets/{foreign.id}/attachments/{attachment.id}").status_code == 404
    status = client.post(
        f"/tickets/{ticket.id}/status", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "status": "closed"}
    )
    assert status.status_code == 302 and db.session.get(Ticket, ticket.id).status == "closed"
    assert client.post(f"/tickets/{ticket.id}/status", data={"status": "open"}).status_code == 400


def test_ticket_messages_are_numbered_for_the_inbound_plugin(tenant, smtp_sink, run_worker):
    from plugins.ticket.inbound import ticket_number

    ticket = _ticket(tenant.id)
    run_worker()
    message = db.session.execute(db.select(Message)).scalar_one()
    assert ticket_number("Re: " + message.subject) == ticket.id
