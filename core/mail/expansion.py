"""From an event to messages: rules -> recipients -> variables -> render.

``plan()`` is pure (it reads, never writes) and serves both the real
expansion and the admin's dry run, so the dry run shows exactly what would
happen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from flask import current_app

from .. import attachments as attachment_store
from .. import bounces, opt_outs, recipients as recipient_refs
from ..extensions import db
from ..models import Event, MailSettings, Message, MessageStatus, Rule, Template, User
from ..models.message import Priority
from ..models.types import utcnow
from ..plugins import HookFailure, PluginHookError, registry
from ..specs import Recipient, TenantRef
from ..tenancy import get_tenant, tenant_ref
from . import mime, rendering, variables

log = logging.getLogger(__name__)


@dataclass
class PlannedMail:
    recipient: Recipient
    language: str
    template_key: str
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    error: str | None = None


@dataclass
class RulePlan:
    rule: Rule
    fires: bool
    reason: str = ""
    mails: list[PlannedMail] = field(default_factory=list)
    #: Plugin hooks that raised for this rule: the rule wrote nothing and
    #: runs again when the event is retried.
    failures: list[HookFailure] = field(default_factory=list)
    #: Recipients a plugin returned that were left out, and why.
    skipped: list[str] = field(default_factory=list)
    # More recipients than one event may have (POSTWERK_MAX_RECIPIENTS_PER_EVENT).
    over_cap: bool = False


class RecipientCapError(RuntimeError):
    """An event would make more messages than the installation allows."""


class TemplateSet:
    """The tenant's templates, loaded once per expansion batch."""

    def __init__(self, tenant_id: int):
        rows = db.session.execute(db.select(Template).where(Template.tenant_id == tenant_id)).scalars()
        self.by_key: dict[str, dict[str, Template]] = {}
        for t in rows:
            self.by_key.setdefault(t.key, {})[t.language] = t

    def pick(self, key: str, language: str, fallback: str) -> Template | None:
        versions = self.by_key.get(key, {})
        return versions.get(language) or versions.get(fallback) or next(iter(versions.values()), None)


def render_mail(template: Template, values: dict[str, Any], recipient: Recipient, language: str) -> PlannedMail:
    mail = PlannedMail(recipient=recipient, language=language, template_key=template.key)
    scoped = dict(values, recipient={"address": recipient.address, "name": recipient.name, "language": language})
    try:
        mail.subject = " ".join(rendering.render(template.subject, scoped).split())
        mime.check_header("subject", mail.subject)
        mail.body_html = rendering.render(template.body_html, scoped, html=True)
        mail.body_text = rendering.render(template.body_text, scoped) if template.body_text else ""
        if not mail.body_text and mail.body_html:
            # inscriptis loads lxml.html: only a template without a text part
            # needs it, so a worker does not load it at start (issue 15).
            import inscriptis

            mail.body_text = inscriptis.get_text(mail.body_html).strip() + "\n"
    except (rendering.TemplateError, mime.HeaderError) as exc:
        mail.error = f"template '{template.key}' ({template.language}): {exc}"
    return mail


def _names_recipient(template: Template) -> bool:
    """Whether the template may depend on the recipient (conservative: any
    mention of the name ``recipient`` counts)."""
    return any("recipient" in (part or "") for part in (template.subject, template.body_html, template.body_text))


def plan(
    tenant: TenantRef,
    event: str,
    payload: dict[str, Any],
    *,
    rules: list[Rule] | None = None,
    templates: TemplateSet | None = None,
    suppressions=None,
) -> list[RulePlan]:
    """What the event's rules would send. ``suppressions`` (a
    ``bounces.SuppressionSnapshot``) lets a batch ask the suppression list
    once; without it each rule asks the database (the dry run)."""
    reg = registry()
    _, owner = reg.event(event)
    if rules is None:
        rules = list(
            db.session.execute(
                db.select(Rule).where(Rule.tenant_id == tenant.id, Rule.event == event).order_by(Rule.id)
            ).scalars()
        )
    templates = templates or TemplateSet(tenant.id)
    if owner not in reg.enabled_plugins(tenant.id):
        return [RulePlan(r, False, f"the plugin '{owner}' is disabled for this tenant") for r in rules]
    plans: list[RulePlan] = []
    values: dict[str, Any] | None = None
    # A plugin whose hook raises fails alone: the rules that need it wait
    # (recorded, retried later), every other rule goes on.
    value_failures: list[HookFailure] = []
    cap = current_app.config.get("MAX_RECIPIENTS_PER_EVENT", 500)
    planned = 0
    for rule in rules:
        if not rule.active:
            plans.append(RulePlan(rule, False, "the rule is switched off"))
            continue
        if values is None:
            values = variables.collect(tenant, event, payload, failures=value_failures)
        result = RulePlan(rule, True)
        try:
            people = recipient_refs.resolve(
                tenant, event, rule.recipient, payload, failures=result.failures, skipped=result.skipped
            )
        except recipient_refs.RecipientError as exc:
            result.fires, result.reason = False, str(exc)
            plans.append(result)
            continue
        if result.failures:
            # Some recipients are unknown: mailing only the others would send
            # them a second copy when the rule runs again.
            result.fires, result.reason = False, "; ".join(map(str, result.failures))
            plans.append(result)
            continue
        if not people:
            result.fires, result.reason = False, f"no recipient found for {rule.recipient}"
        if planned + len(people) > cap:
            # Checked before rendering: 5,000 watchers must not cost 5,000 renders first.
            result.fires, result.over_cap = False, True
            result.reason = (
                f"{planned + len(people)} recipients, more than the {cap} one event may have "
                "(POSTWERK_MAX_RECIPIENTS_PER_EVENT); no mail is made"
            )
            plans.append(result)
            continue
        planned += len(people)
        # A template that never names ``recipient`` renders the same for every
        # recipient: once per template and language (a fan-out to a list).
        shared: dict[tuple[int, str], PlannedMail] = {}
        addresses = [p.address for p in people]
        blocked = suppressions(addresses) if suppressions is not None else bounces.suppressed(tenant.id, addresses)
        for person in people:
            language = person.language or tenant.language
            if person.address.strip().lower() in blocked:
                # Kept as a visible, never-sent row: the queue and the dry run say why.
                result.mails.append(
                    PlannedMail(
                        person,
                        language,
                        rule.template_key,
                        error=(
                            f"not sent: {person.address} is on the suppression list "
                            f"({blocked[person.address.strip().lower()]})"
                        )[:2000],
                    )
                )
                continue
            template = templates.pick(rule.template_key, language, tenant.language)
            if template is None:
                result.mails.append(
                    PlannedMail(
                        person, language, rule.template_key, error=f"the template '{rule.template_key}' does not exist"
                    )
                )
                continue
            if len(people) > 1 and not _names_recipient(template):
                first = shared.get((id(template), template.language))
                if first is None:
                    first = shared[(id(template), template.language)] = render_mail(
                        template, values, person, template.language
                    )
                    result.mails.append(first)
                else:
                    result.mails.append(replace(first, recipient=person))
                continue
            result.mails.append(render_mail(template, values, person, template.language))
        if value_failures and any(m.error for m in result.mails):
            # The template needs what the faulty plugin did not deliver.
            result.failures = list(value_failures)
            result.fires, result.reason, result.mails = False, "; ".join(map(str, value_failures)), []
        plans.append(result)
    return plans


class ExpansionContext:
    """What one batch of events of a tenant shares: loaded once, not per event."""

    def __init__(self, tenant_id: int):
        self.tenant = get_tenant(tenant_id)
        self.ref = tenant_ref(self.tenant)
        self.settings = db.session.get(MailSettings, tenant_id)
        self.templates = TemplateSet(tenant_id)
        self.rules: dict[str, list[Rule]] = {}
        for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id).order_by(Rule.id)).scalars():
            self.rules.setdefault(rule.event, []).append(rule)
        # Read per batch (refresh_suppressions); until then each rule asks.
        self.suppressions: bounces.SuppressionSnapshot | None = None

    def refresh_suppressions(self) -> None:
        """Read the suppression list again: once per batch, not per event."""
        self.suppressions = bounces.SuppressionSnapshot(self.tenant.id)

    def sender_for(self, event: Event) -> tuple[str, str]:
        s = self.settings
        address = s.sender_address if s else ""
        name = (s.sender_name if s else "") or self.tenant.name
        if s and s.sender_mode == "user" and event.actor_user_id:
            user = db.session.get(User, event.actor_user_id)
            if user is not None and user.tenant_id == self.tenant.id:
                return user.email, user.name
        return address, name


def rules_to_run(event: Event, ctx: ExpansionContext) -> list[Rule]:
    """The event's rules, or on a retry only those that failed before."""
    rules = ctx.rules.get(event.key, [])
    if not event.failures:
        return rules
    wanted = {f.get("rule_id") for f in event.failures}
    if None in wanted:  # the whole event failed: every rule that wrote nothing
        done = set(db.session.execute(db.select(Message.rule_id).where(Message.event_id == event.id)).scalars())
        return [r for r in rules if r.id not in done]
    return [r for r in rules if r.id in wanted]


def expand(
    event: Event,
    ctx: ExpansionContext,
    *,
    failures: list[dict] | None = None,
    skipped: list[str] | None = None,
    files: dict[int, list] | None = None,
) -> list[dict]:
    """The message rows of one event, as dicts for one bulk INSERT of the
    whole batch (the caller writes them and marks the event).

    Rules a faulty plugin held up write nothing; their failures (plugin,
    hook, error, rule id) go to ``failures`` so the event can run again for
    just those rules. Without the list, such a failure raises.

    The files plugins attach (``postwerk_mail_attachments``) go to
    ``files[event.id]``, checked; the caller stores them in its write
    transaction and links them to the rows."""
    plans = plan(
        ctx.ref,
        event.key,
        event.payload,
        rules=rules_to_run(event, ctx),
        templates=ctx.templates,
        suppressions=ctx.suppressions,
    )
    for rule_plan in plans:
        if rule_plan.failures and failures is None:
            raise PluginHookError(rule_plan.failures[0])
        for failure in rule_plan.failures:
            failures.append(dict(failure.as_dict(), rule_id=rule_plan.rule.id))
        if skipped is not None:
            skipped.extend(rule_plan.skipped)
        if rule_plan.over_cap:
            # The event fails with the reason (kept, can be looked at); none of its mail goes out.
            raise RecipientCapError(rule_plan.reason)
    sender, sender_name = ctx.sender_for(event)
    domain_source = sender or f"postwerk@{ctx.tenant.slug}.postwerk.invalid"
    reply_to = ctx.settings.reply_to if ctx.settings else ""
    now = utcnow()
    rows = []
    for rule_plan in plans:
        # Send later (emit(send_at=), a rule's delay): the row waits, PENDING
        # and not yet due, in the database; the claim takes only due mail and
        # the sweeper wakes a deliverer once it is due (a Redis flush loses nothing).
        due = max(
            now, (event.send_at or event.created_at or now) + timedelta(minutes=rule_plan.rule.delay_minutes or 0)
        )
        priority = event.priority if event.priority is not None else rule_plan.rule.priority
        for mail in rule_plan.mails:
            rows.append(
                dict(
                    tenant_id=ctx.tenant.id,
                    event_id=event.id,
                    rule_id=rule_plan.rule.id,
                    event_key=event.key,
                    template_key=mail.template_key,
                    language=mail.language,
                    message_id=mime.new_message_id(domain_source),
                    sender=sender,
                    sender_name=sender_name,
                    reply_to=reply_to,
                    recipients=[mail.recipient.address],
                    subject=mail.subject or "",
                    body_text=mail.body_text,
                    body_html=mail.body_html,
                    created_at=now,
                    updated_at=now,
                    next_attempt_at=due,
                    attempts=0,
                    priority=1 if priority is None else priority,
                    send_condition=rule_plan.rule.send_condition or None,
                    attachments=0,
                    status=MessageStatus.FAILED if mail.error else MessageStatus.PENDING,
                    last_error=mail.error,
                )
            )
    if rows and files is not None:
        attached = plugin_files(ctx.ref, event, failures)
        if attached is None:
            return []  # a plugin failed: the event runs again, never sends without the file
        if attached:
            files[event.id] = attached
    _drop_opted_out(ctx.tenant.id, rows)
    return rows


def plugin_files(tenant: TenantRef, event: Event, failures: list[dict] | None) -> list | None:
    """The files the enabled plugins attach to the event's mail, checked;
    None when a plugin raised or gave a file that is refused (recorded in
    ``failures`` with the plugin's name, or raised without the list)."""
    hook_failures: list[HookFailure] = []
    answers = registry().call_each(
        "postwerk_mail_attachments",
        tenant.id,
        failures=hook_failures,
        tenant=tenant,
        event=event.key,
        payload=event.payload,
    )
    collected = []
    for plugin, answer in answers:
        try:
            collected += attachment_store.check(answer or [])
        except attachment_store.AttachmentError as exc:
            hook_failures.append(HookFailure(plugin, "postwerk_mail_attachments", str(exc)))
    try:
        collected = attachment_store.check(collected)  # the limits hold for all of them together
    except attachment_store.AttachmentError as exc:
        hook_failures.append(HookFailure(", ".join(p for p, _ in answers), "postwerk_mail_attachments", str(exc)))
    if not hook_failures:
        return collected
    if failures is None:
        raise PluginHookError(hook_failures[0])
    failures.extend(dict(f.as_dict(), rule_id=None) for f in hook_failures)
    return None


def _drop_opted_out(tenant_id: int, rows: list[dict]) -> None:
    """Bulk mail to an address that unsubscribed stays a visible, never-sent
    row (CANCELLED with the reason); other priorities are never touched."""
    bulk = [row for row in rows if row["priority"] == Priority.BULK and row["status"] == MessageStatus.PENDING]
    if not bulk:
        return
    gone = opt_outs.opted_out(tenant_id, [a for row in bulk for a in row["recipients"]])
    for row in bulk:
        hit = next((gone[a.strip().lower()] for a in row["recipients"] if a.strip().lower() in gone), None)
        if hit is not None:
            row["status"] = MessageStatus.CANCELLED
            row["last_error"] = f"not sent: {hit.address} unsubscribed from bulk mail on {hit.created_at:%Y-%m-%d}"
