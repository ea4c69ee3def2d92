"""The core's tables. Plugins own their tables in their own packages."""
from .audit import AuditEntry, Notification
from .event import Event, EventStatus
from .integration import ApiToken, DistributionList, IdempotencyKey
from .mail import MailSettings, Rule, Template
from .message import Message, MessageStatus
from .tenant import PluginState, Tenant, User

__all__ = [
    "ApiToken", "DistributionList", "IdempotencyKey",
    "AuditEntry", "Notification", "Event", "EventStatus", "MailSettings", "Rule", "Template",
    "Message", "MessageStatus", "PluginState", "Tenant", "User",
]
