"""Mail to admins about failed mail: at once or a daily digest, per admin,
German or English, through the normal queue, never about itself (issue 17)."""

from __future__ import annotations

from datetime import timedelta

from core.extensions import db
from core.mail import failure_mail
from core.models import Message, MessageStatus, User
from core.models.message import Priority
from core.models.types import utcnow
from tests.helpers import csrf_token, login
from tests.sending_helpers import deliver, queue_message

OVERVIEW = "/settings/admin/mail"


def admin_of(tenant) -> User:
    return (
        db.session.execute(db.select(User).where(User.tenant_id == tenant.id, User.is_admin.is_(True)))
        .scalars()
        .first()
    )


def choose(client, value: str, language: str = "en"):
    html = client.get(OVERVIEW, headers={"Accept-Language": language}).get_data(as_text=True)
    return client.post(
        OVERVIEW + "/failure-mail",
        data={"csrf_token": csrf_token(html), "id": "failure_mail", "failure_mail": value},
        headers={"Accept-Language": language},
        follow_redirects=True,
    )


def notices(tenant_id: int, key: str = failure_mail.NOTICE_KEY) -> list[Message]:
    return list(
        db.session.execute(
            db.select(Message).where(Message.tenant_id == tenant_id, Message.event_key == key).order_by(Message.id)
        ).scalars()
    )


def test_the_admin_chooses_on_the_overview_and_bad_input_is_refused(client, tenant):
    login(client)
    page = client.get(OVERVIEW, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Mail an mich über fehlgeschlagene Mails" in page and "Eine tägliche Zusammenfassung" in page
    answer = choose(client, "daily")
    assert "You get a daily digest of failed mail." in answer.get_data(as_text=True)
    assert admin_of(tenant).failure_mail == "daily"
    assert admin_of(tenant).failure_digest_at is not None
    answer = choose(client, "hourly")
    assert "Nothing was saved" in answer.get_data(as_text=True)
    assert admin_of(tenant).failure_mail == "daily"


def test_a_failed_mail_brings_the_admin_a_notice_in_their_language_and_it_is_delivered(tenant, ctx, smtp_sink):
    admin = admin_of(tenant)
    admin.language = "de"
    failure_mail.choose(admin, "immediate")
    db.session.commit()
    smtp_sink.behaviour.rcpt_replies["gone@example.org"] = "550 5.1.1 no such user"
    failed = queue_message(tenant.id, recipients=["gone@example.org"], subject="Ihre Anfrage")
    deliver(tenant.id)
    assert failed.status == MessageStatus.FAILED

    (notice,) = notices(tenant.id)
    assert notice.recipients == [admin.email] and notice.priority == Priority.SYSTEM
    assert notice.subject == f"Mail #{failed.id} fehlgeschlagen: Ihre Anfrage"
    assert "550 5.1.1 no such user" in notice.body_text and "gone@example.org" in notice.body_text
    assert "Warteschlange" in notice.body_text
    # Through the normal queue, by the tenant's own server.
    deliver(tenant.id)
    assert notice.status == MessageStatus.SENT
    (received,) = smtp_sink.messages
    assert received.rcpt_tos == [admin.email]


def test_the_queue_shows_a_notice_like_any_mail(client, tenant, smtp_sink):
    admin = admin_of(tenant)
    failure_mail.choose(admin, "immediate")
    db.session.commit()
    smtp_sink.behaviour.data_reply = "554 5.7.1 rejected"
    queue_message(tenant.id)
    deliver(tenant.id)
    (notice,) = notices(tenant.id)
    login(client)
    queue = client.get(OVERVIEW + "/queue")
    assert queue.status_code == 200 and notice.subject in queue.get_data(as_text=True)
    body = client.get(OVERVIEW + f"/queue/body?id={notice.id}")
    # The admin has no language of their own: the tenant's, German.
    assert body.status_code == 200 and "konnte nicht zugestellt werden" in body.get_data(as_text=True)


def test_english_for_an_english_admin(tenant, ctx, smtp_sink):
    admin = admin_of(tenant)
    admin.language = "en"
    failure_mail.choose(admin, "immediate")
    db.session.commit()
    smtp_sink.behaviour.data_reply = "554 5.7.1 rejected as spam"
    failed = queue_message(tenant.id)
    deliver(tenant.id)
    (notice,) = notices(tenant.id)
    assert notice.subject.startswith(f"Mail #{failed.id} failed: ")
    assert "could not be delivered" in notice.body_text and "554 5.7.1 rejected as spam" in notice.body_html


def test_a_notice_that_fails_causes_no_notice(tenant, ctx, smtp_sink):
    admin = admin_of(tenant)
    failure_mail.choose(admin, "immediate")
    db.session.commit()
    smtp_sink.behaviour.data_reply = "554 5.7.1 rejected"  # every mail fails, the notice too
    queue_message(tenant.id)
    deliver(tenant.id)
    (notice,) = notices(tenant.id)
    deliver(tenant.id)
    db.session.refresh(notice)
    assert notice.status == MessageStatus.FAILED
    deliver(tenant.id)
    assert len(notices(tenant.id)) == 1  # no notice about the notice


def test_immediate_is_capped_per_hour_and_off_admins_get_nothing(tenant, ctx, smtp_sink):
    admin = admin_of(tenant)
    failure_mail.choose(admin, "immediate")
    other = User(tenant_id=tenant.id, email="quiet@acme.example", name="Quiet", is_admin=True)
    other.set_password("x" * 12)
    db.session.add(other)
    db.session.commit()
    smtp_sink.behaviour.data_reply = "554 5.7.1 rejected"
    for n in range(failure_mail.IMMEDIATE_PER_HOUR + 3):
        queue_message(tenant.id, subject=f"m{n}")
    deliver(tenant.id)
    sent = notices(tenant.id)
    assert len(sent) == failure_mail.IMMEDIATE_PER_HOUR
    assert all(m.recipients == [admin.email] for m in sent)


def test_the_daily_digest_lists_the_days_failures_once(tenant, ctx, smtp_sink):
    admin = admin_of(tenant)
    admin.language = "de"
    failure_mail.choose(admin, "daily")  # the first digest covers the day before the choice
    db.session.commit()
    smtp_sink.behaviour.data_reply = "554 5.7.1 rejected"
    first = queue_message(tenant.id, subject="Erste")
    second = queue_message(tenant.id, subject="Zweite")
    deliver(tenant.id)
    assert notices(tenant.id) == []  # daily: no mail at once
    smtp_sink.behaviour.data_reply = None

    now = utcnow()
    (digest,) = failure_mail.digests(tenant.id, now=now)
    db.session.commit()
    assert digest.event_key == failure_mail.DIGEST_KEY and digest.recipients == [admin.email]
    assert digest.priority == Priority.SYSTEM
    assert digest.subject == "2 Mails sind am letzten Tag fehlgeschlagen (Acme GmbH)"
    assert f"#{first.id}" in digest.body_text and f"#{second.id}" in digest.body_text
    assert "554 5.7.1 rejected" in digest.body_text and "Zusammenfassung" in digest.body_text
    # The hourly task within the day sends nothing; a day on without new failures neither.
    assert failure_mail.digests(tenant.id, now=now + timedelta(hours=2)) == []
    assert failure_mail.digests(tenant.id, now=now + timedelta(days=1, minutes=1)) == []
    db.session.commit()
    deliver(tenant.id)
    db.session.refresh(digest)
    assert digest.status == MessageStatus.SENT
    (received,) = smtp_sink.messages
    assert received.rcpt_tos == [admin.email]
    # A failed digest is in no later digest.
    digest.status = MessageStatus.FAILED
    db.session.commit()
    assert failure_mail.digests(tenant.id, now=now + timedelta(days=3)) == []


def test_the_digest_runs_as_an_automate_task(tenant, ctx):
    from core.automate.tasks import CORE_TASKS, resolve

    (spec,) = [s for s in CORE_TASKS if s.key == "failure_digest"]
    assert resolve(spec) is failure_mail.run_digests


def test_a_bounce_brings_a_notice_but_a_bounced_notice_does_not(tenant, ctx, smtp_sink):
    from core.bounces import announce_bounces, record_bounce

    admin = admin_of(tenant)
    admin.language = "en"
    failure_mail.choose(admin, "immediate")
    db.session.commit()
    sent = queue_message(tenant.id, recipients=["erika@example.org"], subject="Welcome")
    deliver(tenant.id)
    assert sent.status == MessageStatus.SENT and notices(tenant.id) == []
    record_bounce(
        tenant.id, recipient="erika@example.org", status="5.1.1", diagnostic="no such user", message_pk=sent.id
    )
    db.session.commit()
    announce_bounces()
    (notice,) = notices(tenant.id)
    assert notice.subject == f"Mail #{sent.id} bounced: Welcome"
    assert "5.1.1 no such user" in notice.body_text
    deliver(tenant.id)
    db.session.refresh(notice)
    assert notice.status == MessageStatus.SENT
    record_bounce(tenant.id, recipient=admin.email, status="5.2.2", diagnostic="mailbox full", message_pk=notice.id)
    db.session.commit()
    announce_bounces()
    assert len(notices(tenant.id)) == 1
