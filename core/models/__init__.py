"""The core's tables. Plugins own their tables in their own packages."""

from .account import AccountSecret, AccountSecretPurpose
from .attachment import AttachmentBlob, EventAttachment, MessageAttachment
from .audit import AuditEntry, Notification
from .event import Event, EventStatus
from .integration import ApiToken, DistributionList, IdempotencyKey
from .mail import MailSettings, Rule, Template
from .message import Message, MessageStatus
from .report import ReportSchedule
from .suppression import OptOut, SuppressedAddress
from .tenant import PluginState, Tenant, User
from .web_session import WebSession

__all__ = [
    "AccountSecret",
    "AccountSecretPurpose",
    "AttachmentBlob",
    "EventAttachment",
    "MessageAttachment",
    "ApiToken",
    "DistributionList",
    "IdempotencyKey",
    "AuditEntry",
    "Notification",
    "Event",
    "EventStatus",
    "MailSettings",
    "Rule",
    "Template",
    "Message",
    "MessageStatus",
    "OptOut",
    "ReportSchedule",
    "PluginState",
    "SuppressedAddress",
    "Tenant",
    "User",
    "WebSession",
]

# AUTOMATE's tables live with AUTOMATE; imported here so every table is known
# to the metadata (migrations, tests) as soon as core.models is.
from ..automate.models import AutomateState, TaskRun, TaskState  # noqa: E402

__all__ += ["AutomateState", "TaskRun", "TaskState"]
