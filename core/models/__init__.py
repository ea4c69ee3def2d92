"""The core's tables. Plugins own their tables in their own packages."""
from .account import AccountSecret, AccountSecretPurpose
from .audit import AuditEntry, Notification
from .event import Event, EventStatus
from .integration import ApiToken, DistributionList, IdempotencyKey
from .mail import MailSettings, Rule, Template
from .message import Message, MessageStatus
from .suppression import SuppressedAddress
from .tenant import PluginState, Tenant, User

__all__ = [
    "AccountSecret", "AccountSecretPurpose",
    "ApiToken", "DistributionList", "IdempotencyKey",
    "AuditEntry", "Notification", "Event", "EventStatus", "MailSettings", "Rule", "Template",
    "Message", "MessageStatus", "PluginState", "SuppressedAddress", "Tenant", "User",
]

# AUTOMATE's tables live with AUTOMATE; imported here so every table is known
# to the metadata (migrations, tests) as soon as core.models is.
from ..automate.models import AutomateState, TaskRun, TaskState  # noqa: E402

__all__ += ["AutomateState", "TaskRun", "TaskState"]
