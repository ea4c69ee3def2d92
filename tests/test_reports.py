"""Scheduled report mails: an admin schedules a plugin's report with a cron
expression, recipients and a language; AUTOMATE's scheduler runs it as the
task "report:ID"; the PDF (read back with pdftotext from the mail the sink
received) has the table and the tenant's branding; a failed run is a failed
task run with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest

from core.automate.models import TaskRun, TaskState
from core.automate.scheduler import Scheduler
from core.extensions import db
from core.models import ReportSchedule
from core.models.types import utcnow
from core.plugin_state import set_enabled
from plugins.ticket import service as tickets
from plugins.vertrag import service as contracts
from tests.helpers import csrf_token, drain, login, make_tenant
from tests.test_plugin_vertrag import CONTRACT

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is missing")
REPORTS = "/settings/admin/automate/reports"


def pdf_text(content: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True, timeout=30
    ).stdout.decode()


@pytest.fixture
def office(ctx, smtp_sink):
    return make_tenant("acme", smtp_sink, plugins=("ticket", "vertrag"), activate_rules=False)


def _schedule(client, **fields):
    html = client.get(REPORTS).get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(html),
        "cron": "0 7 * * 1",
        "language": "de",
        "addresses": "",
        "format": "pdf",
        **fields,
    }
    return html, client.post(REPORTS, data=data)


def _run(app, tenant_id: int, schedule: ReportSchedule) -> TaskRun:
    """Run now, as the admin's button does: the next scheduler tick claims it, a worker runs it."""
    from core.automate import state

    state.request_run(tenant_id, f"report:{schedule.id}", actor="test")
    Scheduler(app, use_lock=False).tick()
    drain(app)
    db.session.expire_all()
    return (
        db.session.execute(
            db.select(TaskRun).where(TaskRun.task_key == f"report:{schedule.id}").order_by(TaskRun.id.desc())
        )
        .scalars()
        .first()
    )


def _pdf_of(mail) -> str:
    (part,) = [p for p in mail.message.iter_attachments() if p.get_content_type() == "application/pdf"]
    return pdf_text(part.get_content())


def test_the_open_tickets_report_is_scheduled_run_and_mailed_as_a_pdf(app, office, client, smtp_sink):
    tickets.create_ticket(
        office.id,
        title="Heizung fällt aus",
        description="kalt",
        reporter_name="Erika Muster",
        reporter_email="erika@example.org",
    )
    closed = tickets.create_ticket(
        office.id, title="Fenster klemmt", description="", reporter_name="Max", reporter_email="max@example.org"
    )
    tickets.change_status(office.id, closed.id, "closed")
    db.session.commit()
    login(client)
    html, response = _schedule(client, report_key="ticket.open_this_week", roles="admins", addresses="chef@example.org")
    assert "Open tickets this week" in html or "Offene Tickets" in html
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    (schedule,) = db.session.execute(db.select(ReportSchedule)).scalars().all()
    task = db.session.execute(db.select(TaskState).where(TaskState.task_key == f"report:{schedule.id}")).scalar_one()
    assert task.cron == "0 7 * * 1" and task.next_run_at.weekday() == 0 and task.next_run_at.hour == 7
    run = _run(app, office.id, schedule)
    assert run.ok is True, run.result
    assert run.result == "mailed 'Offene Tickets dieser Woche' (1 row(s)) to 2 recipient(s)"
    drain(app)
    mails = smtp_sink.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["admin@acme.example", "chef@example.org"]
    for mail in mails:
        assert "Offene Tickets dieser Woche" in mail.message.get_body(("plain",)).get_content()
        text = _pdf_of(mail)
        assert "Acme GmbH" in text and "Offene Tickets dieser Woche" in text
        assert "Heizung fällt aus" in text and "Erika Muster" in text
        assert "Fenster klemmt" not in text  # closed
    # The AUTOMATE page lists the schedule's task with its history.
    page = client.get(f"/settings/admin/automate/tasks/report:{schedule.id}/history")
    assert page.status_code == 200 and "mailed" in page.get_data(as_text=True)


def test_the_contracts_report_lists_only_contracts_ending_within_90_days_in_english(app, office, smtp_sink):
    from core import reports

    today = utcnow().date()
    soon = contracts.create_contract(office.id, **dict(CONTRACT, number="MV-SOON"))
    later = contracts.create_contract(office.id, **dict(CONTRACT, number="MV-LATER"))
    db.session.commit()
    for contract, end in ((soon, today + timedelta(days=30)), (later, today + timedelta(days=200))):
        contracts.sign(office.id, contract.id)
        contracts.terminate(office.id, contract.id, end_date=end, reason="")
    db.session.commit()
    schedule = reports.create(
        office.id,
        report_key="vertrag.ending_soon",
        cron="0 6 1 * *",
        roles=[],
        addresses="owner@example.org",
        language="en",
        actor="test",
    )
    run = _run(app, office.id, schedule)
    assert run.ok is True, run.result
    drain(app)
    (mail,) = smtp_sink.wait_for(1)
    assert mail.message["Subject"].startswith("Contracts ending in the next 90 days")
    text = _pdf_of(mail)
    assert "Contracts ending in the next 90 days" in text and "MV-SOON" in text and "MV-LATER" not in text
    assert (today + timedelta(days=30)).isoformat() in text


def test_a_run_whose_report_is_no_longer_offered_is_a_failed_task_run_with_the_reason(app, office, smtp_sink):
    from core import reports

    schedule = reports.create(
        office.id,
        report_key="vertrag.ending_soon",
        cron="0 6 * * *",
        roles=["admins"],
        addresses="",
        language="de",
        actor="test",
    )
    set_enabled(office.id, "vertrag", False)
    db.session.commit()
    run = _run(app, office.id, schedule)
    assert run.ok is False
    assert "the report 'vertrag.ending_soon' is no longer offered" in run.result
    task = db.session.execute(db.select(TaskState).where(TaskState.task_key == f"report:{schedule.id}")).scalar_one()
    assert task.last_ok is False and "no longer offered" in task.last_result
    assert smtp_sink.messages == []


def test_a_report_scheduled_to_a_distribution_list_reaches_every_member_of_the_list(app, office, client, smtp_sink):
    """Recipients are roles, addresses and lists: the list is resolved when
    the report runs, so a member added after scheduling gets it too."""
    from core import distribution_lists

    distribution_lists.save(office.id, "verwaltung", "anna@example.org, bernd@example.org")
    db.session.commit()
    login(client)
    html, response = _schedule(client, report_key="ticket.open_this_week", lists="verwaltung")
    assert 'name="lists" value="verwaltung"' in html
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    (schedule,) = db.session.execute(db.select(ReportSchedule)).scalars().all()
    assert "list:verwaltung" in client.get(REPORTS).get_data(as_text=True)
    row = distribution_lists.get(office.id, "verwaltung")
    distribution_lists.save(
        office.id, "verwaltung", "anna@example.org, bernd@example.org, carla@example.org", list_id=row.id
    )
    db.session.commit()
    run = _run(app, office.id, schedule)
    assert run.ok is True, run.result
    assert run.result.endswith("to 3 recipient(s)")
    drain(app)
    mails = smtp_sink.wait_for(3)
    assert sorted(m.rcpt_tos[0] for m in mails) == ["anna@example.org", "bernd@example.org", "carla@example.org"]
    for mail in mails:
        assert "Offene Tickets dieser Woche" in _pdf_of(mail)


def test_a_run_whose_distribution_list_is_gone_is_a_failed_task_run_with_the_reason(app, office, smtp_sink):
    from core import distribution_lists, reports
    from core.models import DistributionList

    distribution_lists.save(office.id, "verwaltung", "anna@example.org")
    db.session.commit()
    schedule = reports.create(
        office.id,
        report_key="ticket.open_this_week",
        cron="0 7 * * 1",
        roles=[],
        addresses="",
        lists=["verwaltung"],
        language="de",
        actor="test",
    )
    db.session.execute(db.delete(DistributionList))
    db.session.commit()
    run = _run(app, office.id, schedule)
    assert run.ok is False and "no distribution list named 'verwaltung'" in run.result
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    "fields, words",
    [
        (dict(report_key="ticket.open_this_week", cron="every monday", roles="admins"), "not a cron expression"),
        (dict(report_key="nope", cron="0 7 * * 1", roles="admins"), "is not offered"),
        (dict(report_key="ticket.open_this_week", cron="0 7 * * 1"), "choose a role or a list or enter an address"),
        (dict(report_key="ticket.open_this_week", cron="0 7 * * 1", lists="nobody"), "no distribution list named"),
        (dict(report_key="ticket.open_this_week", cron="0 7 * * 1", addresses="a@b@c"), "a@b@c"),
    ],
)
def test_a_bad_schedule_is_refused_with_its_reason(office, client, fields, words):
    login(client)
    _, response = _schedule(client, **fields)
    assert response.status_code == 303
    page = client.get(REPORTS).get_data(as_text=True)
    assert words in page
    assert db.session.execute(db.select(ReportSchedule)).scalars().all() == []


def five_rows(tenant, language):
    from core.api import ReportTable

    return ReportTable(title="Fünf", columns=("n",), rows=tuple((f"row-{n}",) for n in range(5)))


def test_a_long_report_shows_its_first_rows_and_says_how_many_it_left_out(office, monkeypatch):
    from core import reports
    from core.api import ReportSpec
    from core.tenancy import tenant_ref

    monkeypatch.setattr(reports, "MAX_ROWS", 3)
    spec = ReportSpec(key="test.five", label="Five", function="tests.test_reports:five_rows")
    table, content = reports.build(tenant_ref(office), spec, "en")
    text = pdf_text(content)
    assert len(table.rows) == 5 and "The first 3 of 5 rows." in text
    assert "row-2" in text and "row-3" not in text
