"""The dry run: the real expansion (``expansion.plan``) with writing and
sending switched off, plus every placeholder that would come out empty."""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _
from jinja2 import Environment, nodes

from ..extensions import db
from .. import opt_outs
from ..mail import conditions, variables
from ..mail.expansion import TemplateSet, plan
from ..models import Event, Rule
from ..models.message import Priority
from ..plugins import UnknownEventError, describe
from ..tenancy import get_tenant, tenant_ref
from . import bp
from .catalogue import event_choices, event_spec, why_not_firing
from .forms import DryRunForm, grouped, options
from .scope import get_owned, tenant_id
from ..web.words import tr

RECENT_EVENTS = 30
# Parsing only (never rendering), to list the placeholders a template reads.
_parser = Environment()


def _form() -> DryRunForm:
    form = DryRunForm()
    rules = db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id()).order_by(Rule.id)).scalars()
    form.target.choices = grouped(
        {
            _("An event with all its rules"): [(f"event:{key}", label) for key, label in event_choices()],
            _("One rule"): [(f"rule:{r.id}", f"#{r.id} {tr(r.name) or r.template_key} ({r.event})") for r in rules],
        }
    )
    recent = db.session.execute(
        db.select(Event).where(Event.tenant_id == tenant_id()).order_by(Event.id.desc()).limit(RECENT_EVENTS)
    ).scalars()
    form.source.choices = options(
        [("sample", _("the event's sample values"))]
        + [(str(e.id), f"#{e.id} {e.key} {e.created_at:%Y-%m-%d %H:%M}") for e in recent]
    )
    if request.method == "GET":
        if request.args.get("rule"):
            form.target.data = f"rule:{request.args['rule']}"
        elif request.args.get("event"):
            form.target.data = f"event:{request.args['event']}"
    return form


def placeholders_read(source: str) -> list[str]:
    """Dotted names a template reads (``ticket.reporter.name``), in order."""
    try:
        ast = _parser.parse(source or "")
    except Exception:  # syntax errors are reported by the render itself
        return []
    bound = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    inner = {id(n.node) for n in ast.find_all(nodes.Getattr)}
    names: list[str] = []
    for node in ast.find_all((nodes.Getattr, nodes.Name)):
        if id(node) in inner or (isinstance(node, nodes.Name) and node.ctx != "load"):
            continue
        parts = []
        while isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        if isinstance(node, nodes.Name) and node.name not in bound:
            name = ".".join([node.name, *reversed(parts)])
            if name not in names:
                names.append(name)
    return names


def _lookup(values: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = values
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False, None
    return True, node


def empty_placeholders(template, values: dict[str, Any]) -> list[str]:
    """Placeholders of ``template`` that are missing or empty for ``values``."""
    empty = []
    for source in (template.subject, template.body_html, template.body_text):
        for name in placeholders_read(source):
            found, value = _lookup(values, name)
            if (not found or value is None or value == "") and name not in empty and name != "range":
                empty.append(name)
    return empty


def run(target: str, source: str) -> dict:
    """What would happen; writes nothing and sends nothing."""
    tenant = tenant_ref(get_tenant(tenant_id()))
    kind, _sep, value = target.partition(":")
    rules = None
    off: set[int] = set()
    if kind == "rule":
        rule = get_owned(Rule, value)
        if not rule.active:
            # Checking before switching on is the point: plan it as if on (a copy, never saved).
            rule = Rule(
                id=rule.id,
                tenant_id=rule.tenant_id,
                name=rule.name,
                event=rule.event,
                recipient=rule.recipient,
                template_key=rule.template_key,
                active=True,
                priority=rule.priority,
                delay_minutes=rule.delay_minutes,
                send_condition=rule.send_condition,
            )
            off.add(rule.id)
        event, rules = rule.event, [rule]
    else:
        event = value
    spec = event_spec(event)
    emitted_priority = None  # emit(..., priority=) of a real event overrides the rules'
    if source == "sample":
        if spec is None:
            return {"error": _("No installed plugin declares the event %(event)s.", event=event)}
        payload = spec.sample_payload()
    else:
        real = get_owned(Event, source)
        if real.key != event:
            return {"error": _("Event #%(id)s is a %(key)s, not a %(event)s.", id=real.id, key=real.key, event=event)}
        payload = real.payload
        emitted_priority = real.priority
    failures: list = []
    try:
        plans = plan(tenant, event, payload, rules=rules)
        values: dict[str, Any] = {}
        if why_not_firing(event) is None:
            values = variables.collect(tenant, event, payload, failures=failures)
    except UnknownEventError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a plugin's bug is shown, never a 500
        db.session.rollback()
        return {"error": _("The dry run failed: %(error)s", error=describe(exc))}
    templates = TemplateSet(tenant.id)
    results = []
    for rule_plan in plans:
        rule = rule_plan.rule
        priority = emitted_priority if emitted_priority is not None else rule.priority
        priority = Priority.TRANSACTIONAL if priority is None else priority
        # Bulk mail skips who unsubscribed (as the expansion does, after the
        # plan: core.mail.expansion._drop_opted_out); other mail never.
        gone = (
            opt_outs.opted_out(tenant.id, [m.recipient.address for m in rule_plan.mails if not m.error])
            if priority == Priority.BULK
            else {}
        )
        mails = []
        for mail in rule_plan.mails:
            template = templates.pick(mail.template_key, mail.language, tenant.language)
            scoped = dict(
                values,
                recipient={"address": mail.recipient.address, "name": mail.recipient.name, "language": mail.language},
            )
            out = gone.get(mail.recipient.address.strip().lower()) if not mail.error else None
            mails.append(
                {
                    "mail": mail,
                    "empty": empty_placeholders(template, scoped) if template else [],
                    "opted_out": out.created_at if out is not None else None,
                    "suppressed": bool(mail.error and "suppression list" in mail.error),
                }
            )
        results.append(
            {
                "plan": rule_plan,
                "mails": mails,
                "off": rule.id in off,
                "priority": Priority.NAMES.get(priority, str(priority)),
                "priority_label": {
                    Priority.SYSTEM: _("System"),
                    Priority.TRANSACTIONAL: _("Transactional"),
                    Priority.BULK: _("Bulk"),
                }.get(priority, str(priority)),
                "condition": _condition(tenant, event, spec, rule.send_condition, payload)
                if rule.send_condition
                else None,
            }
        )
    # Belt and braces: the dry run never leaves anything behind.
    db.session.rollback()
    return {
        "event": event,
        "label": tr(spec.label) if spec else event,
        "results": results,
        "source": _("sample values") if source == "sample" else f"#{source}",
        "failures": [str(f) for f in failures],
    }


def _condition(tenant, event: str, spec, name: str, payload: dict) -> dict:
    """A rule's send-time condition: its name and description, and what the
    plugins answer for these values now (at send time the answer may differ:
    it is asked again then)."""
    try:
        verdict = conditions.ask(tenant, event, name, payload)
    except Exception as exc:  # a plugin's bug is shown, never a 500
        verdict = conditions.Verdict(None, describe(exc))
    return {
        "name": name,
        "description": conditions.offered(spec).get(name, ""),
        "now": verdict.send,
        "reason": verdict.reason,
    }


@bp.route("/rules/dryrun", methods=["GET", "POST"])
def dryrun():
    form = _form()
    outcome = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            outcome = run(form.target.data, form.source.data)
        else:
            status = 400
    return render_template("admin/dryrun.html", form=form, outcome=outcome), status
