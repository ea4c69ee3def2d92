"""Rules: on EVENT send to RECIPIENT using TEMPLATE."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import distribution_lists
from .. import recipients as recipient_refs
from ..extensions import db
from ..mail import conditions
from ..models import DistributionList, Rule, Template
from ..notify import audit
from . import bp, trash
from .catalogue import enabled_events, event_spec, grouped_event_choices, why_not_firing
from .forms import ActionForm, RuleForm, grouped, options
from .scope import actor, get_owned, tenant_id
from ..web.words import tr
from ..mail.expansion import plan
from ..tenancy import get_tenant, tenant_ref

FIELDS = ("name", "event", "recipient", "template_key", "delay_minutes", "priority", "send_condition", "active")


def _template_keys() -> list[str]:
    return list(
        db.session.execute(
            db.select(Template.key).where(Template.tenant_id == tenant_id()).distinct().order_by(Template.key)
        ).scalars()
    )


def _role_choices() -> dict[str, list[tuple[str, str]]]:
    """Roles grouped by event (one <optgroup> each): no JavaScript needed to pick."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for specs in enabled_events().values():
        for spec in specs:
            if spec.roles:
                grouped[tr(spec.label)] = [(role.name, f"{role.name} — {tr(role.description)}") for role in spec.roles]
    return grouped


def _condition_choices() -> dict[str, list[tuple[str, str]]]:
    """Send-time conditions grouped by event, like the roles."""
    grouped: dict[str, list[tuple[str, str]]] = {}
    for specs in enabled_events().values():
        for spec in specs:
            if spec.conditions:
                grouped[tr(spec.label)] = [(c.name, tr(c.description)) for c in spec.conditions]
    return grouped


def _list_names() -> list[str]:
    return list(
        db.session.execute(
            db.select(DistributionList.name)
            .where(DistributionList.tenant_id == tenant_id())
            .order_by(DistributionList.name)
        ).scalars()
    )


def _form(rule: Rule | None = None) -> RuleForm:
    form = RuleForm(obj=rule) if rule is not None else RuleForm()
    events = grouped_event_choices()
    if rule is not None and why_not_firing(rule.event):
        # Keep a rule of a disabled plugin editable without losing its event.
        events.setdefault(_("not firing"), []).append((rule.event, rule.event))
    form.event.choices = grouped(events)
    keys = _template_keys()
    if rule is not None and rule.template_key not in keys:
        keys.append(rule.template_key)
    form.template_key.choices = options((k, k) for k in keys)
    form.recipient_role.choices = grouped(_role_choices())
    form.send_condition.choices = options([("", _("always (no condition)"))]) + grouped(_condition_choices())
    names = _list_names()
    form.recipient_list.choices = options((name, name) for name in names)
    if rule is not None and rule.recipient.startswith("list:") and rule.recipient[5:] not in names:
        # A rule whose list was deleted keeps showing the name it refers to.
        missing = rule.recipient[5:]
        form.recipient_list.choices += options([(missing, _("%(name)s (missing)", name=missing))])
    if rule is not None and request.method == "GET":
        form.fill_recipient(rule.recipient)
        form.name.data = tr(rule.name)  # a default rule's name in the admin's language
    return form


def _editor(form: RuleForm, rule: Rule | None, status: int = 200):
    return render_template(
        "admin/rule_edit.html", form=form, rule=rule, reason=why_not_firing(rule.event) if rule else None
    ), status


def cannot_fire(rule: Rule) -> str | None:
    """Why an active rule would send nothing for its event's sample values
    (no recipient for its role, a missing template), or None."""
    spec = event_spec(rule.event)
    if not rule.active or spec is None:
        return None
    try:
        with db.session.no_autoflush:
            (result,) = plan(tenant_ref(get_tenant(tenant_id())), rule.event, spec.sample_payload(), rules=[rule])
    except Exception as exc:  # a faulty plugin: say so, never break the list
        return str(exc)
    if not result.fires:
        return result.reason
    errors = [mail.error for mail in result.mails if mail.error]
    return errors[0] if errors else None


def twins(rules: list[Rule]) -> dict[int, list[Rule]]:
    """Active rules that send the same event to the same recipients: each gets two mails."""
    found: dict[int, list[Rule]] = {}
    for rule in rules:
        same = [
            other
            for other in rules
            if other.id != rule.id
            and other.active
            and rule.active
            and other.event == rule.event
            and other.recipient == rule.recipient
        ]
        if same:
            found[rule.id] = same
    return found


def _all_rules() -> list[Rule]:
    return (
        db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id()).order_by(Rule.event, Rule.id))
        .scalars()
        .all()
    )


@bp.route("/rules")
def rules_list():
    rules = _all_rules()
    reasons = {rule.id: why_not_firing(rule.event) for rule in rules}
    cannot = {rule.id: why for rule in rules if not reasons[rule.id] and (why := cannot_fire(rule))}
    db.session.rollback()  # planning wrote nothing; make sure of it
    rules = _all_rules()
    labels = {rule.id: (tr(spec.label) if (spec := event_spec(rule.event)) else rule.event) for rule in rules}
    return render_template(
        "admin/rules.html",
        rules=rules,
        reasons=reasons,
        labels=labels,
        cannot=cannot,
        twins=twins(rules),
        action_form=ActionForm(),
    )


@bp.route("/rules/switch", methods=["POST"])
def rules_switch():
    """The on/off switch in the list."""
    form = ActionForm()
    if form.validate_on_submit():
        rule = get_owned(Rule, form.id.data)
        rule.active = not rule.active
        audit(tenant_id(), actor(), "rule.saved", "rule", rule.id, changes={"active": [not rule.active, rule.active]})
        db.session.commit()
        flash(_("Rule switched on.") if rule.active else _("Rule switched off."), "success")
        _warn_twins(rule)
    return redirect(url_for("admin.rules_list"))


def _warn_twins(rule: Rule) -> None:
    same = twins(_all_rules()).get(rule.id)
    if same:
        flash(
            _(
                "Rule #%(id)s and %(others)s both send %(event)s to %(recipient)s: each recipient gets two mails.",
                id=rule.id,
                others=", ".join(f"#{r.id} ({r.template_key})" for r in same),
                event=rule.event,
                recipient=rule.recipient,
            ),
            "warning",
        )


@bp.route("/rules/new")
def rules_new():
    return _editor(_form(), None)


@bp.route("/rules/edit")
def rules_edit():
    rule = get_owned(Rule, request.args.get("id"))
    return _editor(_form(rule), rule)


def _check_recipient(form: RuleForm) -> str | None:
    ref = form.recipient_ref()
    kind = form.recipient_kind.data
    field = getattr(form, f"recipient_{kind}", None)
    try:
        recipient_refs.parse(ref)
    except recipient_refs.RecipientError as exc:
        if field is not None:
            field.errors = [*field.errors, str(exc)]
        return None
    if kind == "role":
        spec = event_spec(form.event.data)
        roles = {r.name for r in spec.roles} if spec else set()
        if form.recipient_role.data not in roles:
            form.recipient_role.errors = [
                *form.recipient_role.errors,
                _(
                    "The event %(event)s offers these roles: %(roles)s",
                    event=form.event.data,
                    roles=", ".join(sorted(roles)) or "—",
                ),
            ]
            return None
    if kind == "list" and distribution_lists.get(tenant_id(), form.recipient_list.data or "") is None:
        form.recipient_list.errors = [
            *form.recipient_list.errors,
            _(
                "There is no distribution list named %(name)s; create it under Lists first.",
                name=form.recipient_list.data or "—",
            ),
        ]
        return None
    return ref


def _check_condition(form: RuleForm) -> bool:
    """A condition must be one the chosen event offers (else it could never be answered)."""
    wanted = form.send_condition.data or ""
    offered = conditions.offered(event_spec(form.event.data))
    if wanted and wanted not in offered:
        form.send_condition.errors = [
            *form.send_condition.errors,
            _(
                "The event %(event)s offers these conditions: %(names)s",
                event=form.event.data,
                names=", ".join(sorted(offered)) or "—",
            ),
        ]
        return False
    return True


@bp.route("/rules/save", methods=["POST"])
def rules_save():
    rule_id = request.form.get("id")
    rule = get_owned(Rule, rule_id) if rule_id else None
    form = _form(rule)
    if not form.validate_on_submit():
        return _editor(form, rule, status=400)
    ref = _check_recipient(form)
    if ref is None or not _check_condition(form):
        return _editor(form, rule, status=400)
    created = rule is None
    if created:
        rule = Rule(tenant_id=tenant_id())
        db.session.add(rule)
    before = {name: getattr(rule, name) for name in FIELDS} if not created else {}
    rule.name = (form.name.data or "").strip()
    rule.event = form.event.data
    rule.recipient = ref
    rule.template_key = form.template_key.data
    rule.delay_minutes = form.delay_minutes.data or 0
    rule.priority = form.priority.data
    rule.send_condition = form.send_condition.data or ""
    rule.active = bool(form.active.data)
    db.session.flush()
    after = {name: getattr(rule, name) for name in FIELDS}
    audit(
        tenant_id(),
        actor(),
        "rule.created" if created else "rule.saved",
        "rule",
        rule.id,
        changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v},
    )
    db.session.commit()
    flash(_("Rule saved."), "success")
    _warn_twins(rule)
    return redirect(url_for("admin.rules_list"))


@bp.route("/rules/delete", methods=["POST"])
def rules_delete():
    form = ActionForm()
    if form.validate_on_submit():
        rule = get_owned(Rule, form.id.data)
        trash.delete(
            "rule", rule, _("Rule deleted."), event=rule.event, recipient=rule.recipient, template_key=rule.template_key
        )
        db.session.commit()
    return redirect(url_for("admin.rules_list"))
