"""The core's tables. Plugins own their tables in their own packages."""
from .audit import AuditEntry, Notification
from .event import Event, EventStatus
from .mail import MailSettings, Rule, Template
from .message import Message, MessageStatus
from .tenant import PluginState, Tenant, User

__all__ = [
    "AuditEntry", "Notification", "Event", "EventStatus", "MailSettings", "Rule", "Template",
    "Message", "MessageStatus", "PluginState", "Tenant", "User",
]
