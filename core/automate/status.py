"""Why a tenant's mail is waiting: the one answer the overview page and the
deliverer share, so what the admin reads is what the worker does."""

from __future__ import annotations

from ..extensions import db
from ..models import MailSettings
from .models import AutomateState
from .state import task_enabled
from .registry import MAIL_WORKER

PAUSED = "AUTOMATE is paused: mail waits in the queue and goes out after it is resumed"
MAIL_WORKER_OFF = "the mail worker task is switched off in AUTOMATE: mail waits in the queue until it is switched on"


def hold_reason(tenant_id: int) -> str | None:
    """AUTOMATE's reason to hold the tenant's mail, or None."""
    state = db.session.get(AutomateState, tenant_id)
    if state is not None and state.paused:
        return PAUSED
    if not task_enabled(tenant_id, MAIL_WORKER):
        return MAIL_WORKER_OFF
    return None


def why_held(settings: MailSettings | None) -> str | None:
    """Why a tenant's mail cannot go out now, or None."""
    if settings is None or not settings.host:
        return "no SMTP server is configured"
    if settings.broken_reason:
        return f"sending is stopped until the settings are fixed: {settings.broken_reason}"
    return None


def why_mail_waits(tenant_id: int) -> str | None:
    """Why mail of this tenant does not go out now (AUTOMATE paused, mail
    worker off, no or broken SMTP settings), or None when nothing holds it."""
    return hold_reason(tenant_id) or why_held(db.session.get(MailSettings, tenant_id))
