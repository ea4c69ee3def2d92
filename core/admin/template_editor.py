"""Mail templates: list, edit with checks and a live preview, delete.

Checks and preview use the same code as sending (``core.mail.rendering``
and ``expansion.render_mail``), so what the editor accepts renders the same
way in the worker.
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..extensions import db
from ..mail import rendering, variables
from ..mail.expansion import PlannedMail, render_mail
from ..models import Rule, Template
from ..notify import audit
from ..specs import Recipient
from .. import system_templates
from ..tenancy import get_tenant, tenant_ref
from . import bp, trash
from .catalogue import enabled_events, event_choices, event_spec, placeholders
from .forms import ActionForm, TemplateForm, options
from .scope import actor, get_owned, tenant_id
from ..models import Event
from ..web.words import said

PARTS = (("subject", False), ("body_html", True), ("body_text", False))


@bp.route("/templates")
def templates_list():
    rows = (
        db.session.execute(
            db.select(Template).where(Template.tenant_id == tenant_id()).order_by(Template.key, Template.language)
        )
        .scalars()
        .all()
    )
    by_key: dict[str, list[Template]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    used = _rules_by_key()
    return render_template("admin/templates.html", by_key=by_key, used=used, action_form=ActionForm())


def _rules_by_key() -> dict[str, list[Rule]]:
    found: dict[str, list[Rule]] = {}
    for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id()).order_by(Rule.id)).scalars():
        found.setdefault(rule.template_key, []).append(rule)
    return found


def _events_for(key: str | None) -> list[str]:
    """Events a template key is checked against: those of the rules using it."""
    if not key:
        return []
    return sorted({r.event for r in _rules_by_key().get(key, []) if event_spec(r.event)})


def _form(template: Template | None = None) -> TemplateForm:
    form = TemplateForm(obj=template) if template is not None else TemplateForm()
    form.event.choices = options([("", _("— choose an event —"))] + event_choices())
    if request.method == "GET":
        form.event.data = request.args.get("event") or next(iter(_events_for(form.key.data)), "")
    return form


def known_placeholders(event: str, key: str | None) -> list[str]:
    if key in system_templates.VARIABLES:
        # System mail (password reset, sign-in code) has no event: its own set.
        return list(system_templates.VARIABLES[key]) + ["recipient"]
    if event and event_spec(event):
        return variables.declared(event)
    events = _events_for(key) or [spec.key for specs in enabled_events().values() for spec in specs]
    names: set[str] = set()
    for name in events:
        names.update(variables.declared(name))
    return sorted(names) or list(variables.CORE_VARIABLES)


def _renders(source: str, html: bool, event: str, language: str | None = None) -> bool:
    """Whether ``source`` renders with the event's sample values (then no
    placeholder in it is really unknown, e.g. a macro or a method call)."""
    spec = event_spec(event or "")
    if spec is None:
        return False
    values = variables.collect(tenant_ref(get_tenant(tenant_id())), spec.key, spec.sample_payload(language))
    person = sample_recipient(language)
    values = dict(values, recipient={"address": person.address, "name": person.name, "language": person.language})
    try:
        rendering.render(source, values, html=html)
    except rendering.TemplateError:
        return False
    return True


def check(form: TemplateForm) -> list[dict]:
    """Problems of every part, each once, named by its field, with line and suggestion."""
    known = known_placeholders(form.event.data, form.key.data)
    labels = {"subject": _("Subject"), "body_html": _("HTML body"), "body_text": _("Text body")}
    problems = []
    seen = set()
    for part, html in PARTS:
        source = getattr(form, part).data or ""
        found = rendering.validate(source, known, html=html).problems
        if any(p.kind == "unknown" for p in found) and _renders(source, html, form.event.data, form.language.data):
            found = [p for p in found if p.kind != "unknown"]
        for problem in found:
            if (part, problem.message) in seen:
                continue
            seen.add((part, problem.message))
            problems.append(
                {
                    "part": part,
                    "field": labels[part],
                    "line": problem.lineno,
                    "message": problem.message,
                    "suggestion": problem.suggestion,
                    "kind": problem.kind,
                }
            )
    return problems


def preview(form: TemplateForm) -> PlannedMail | None:
    """The template rendered with the chosen event's sample values."""
    spec = event_spec(form.event.data or "")
    if spec is None:
        return None
    tenant = tenant_ref(get_tenant(tenant_id()))
    language = form.language.data or get_tenant(tenant_id()).language
    values = variables.collect(tenant, spec.key, _payload(spec, language))
    draft = Template(
        tenant_id=tenant_id(),
        key=form.key.data or "",
        language=form.language.data or "de",
        subject=form.subject.data or "",
        body_html=form.body_html.data or "",
        body_text=form.body_text.data or "",
    )
    person = sample_recipient(draft.language)
    mail = render_mail(draft, values, person, draft.language)
    if mail.error:
        # Show what renders, with the missing placeholder marked where it stands.
        scoped = dict(values, recipient={"address": person.address, "name": person.name, "language": draft.language})
        try:
            marked = [rendering.render_marked(getattr(draft, part), scoped, html=html) for part, html in PARTS]
        except rendering.TemplateError:
            return mail
        mail.subject, mail.body_html, mail.body_text = " ".join(marked[0].split()), marked[1], marked[2]
        mail.error = mail.error.split(": ", 1)[-1]  # without the "template 'key' (de):" prefix
    return mail


def recent_events(event: str) -> list:
    """The tenant's latest real events of this type, to preview with instead of the samples."""
    if not event:
        return []
    return (
        db.session.execute(
            db.select(Event)
            .where(Event.tenant_id == tenant_id(), Event.key == event)
            .order_by(Event.id.desc())
            .limit(10)
        )
        .scalars()
        .all()
    )


def sample_recipient(language: str | None) -> Recipient:
    """The preview's recipient, named in the template's language."""
    if language == "en":
        return Recipient(address="jane.doe@example.org", name="Jane Doe", language="en")
    return Recipient(address="erika@example.org", name="Erika Mustermann", language="de")


def _payload(spec, language: str | None = None) -> dict:
    """?source=ID (or the posted field): a real past event of this type; else the sample values."""
    source = request.values.get("source", "")
    if source.isdigit():
        event = db.session.get(Event, int(source))
        if event is not None and event.tenant_id == tenant_id() and event.key == spec.key:
            return event.payload
    return spec.sample_payload(language)


def hints(form: TemplateForm, template: Template | None) -> list[str]:
    """Notes that are no errors: a key that looks like another one, a missing language."""
    notes = []
    key = (form.key.data or "").strip()
    rows = db.session.execute(db.select(Template.key, Template.language).where(Template.tenant_id == tenant_id())).all()
    keys = {k for k, _lang in rows}
    norm = key.lower().replace("-", "_")
    for other in sorted(keys):
        if other != key and other.lower().replace("-", "_") == norm:
            notes.append(
                _(
                    "The key “%(key)s” differs from the existing “%(other)s” only by '-', '_' or case: "
                    "rules name one of them exactly.",
                    key=key,
                    other=other,
                )
            )
    languages = {lang for k, lang in rows if k == key}
    if template is not None and len(languages) == 1:
        other = "en" if template.language == "de" else "de"
        notes.append(
            _(
                "This template exists in %(language)s only: recipients who read %(other)s get this version too.",
                language=template.language.upper(),
                other=other.upper(),
            )
        )
    return notes


def _editor(form: TemplateForm, template: Template | None, problems=None, shown=None, status=200):
    event = form.event.data or ""
    return render_template(
        "admin/template_edit.html",
        form=form,
        template=template,
        problems=problems or [],
        preview=shown,
        placeholders=placeholders(event, form.language.data),
        event=event,
        hints=hints(form, template),
        recent=recent_events(event),
        source=request.values.get("source", ""),
    ), status


@bp.route("/templates/new")
def templates_new():
    form = _form()
    if not form.language.data or form.language.data == "None":
        form.language.data = get_tenant(tenant_id()).language
    return _editor(form, None)


@bp.route("/templates/edit")
def templates_edit():
    template = get_owned(Template, request.args.get("id"))
    form = _form(template)
    problems = check(form) if form.event.data else []
    shown = preview(form) if form.event.data and not any(p["kind"] == "syntax" for p in problems) else None
    return _editor(form, template, problems, shown)


@bp.route("/templates/save", methods=["POST"])
def templates_save():
    form = _form()
    template = get_owned(Template, form.id.data) if form.id.data else None
    if not form.validate_on_submit():
        return _editor(form, template, status=400)
    problems = check(form)
    shown = preview(form) if not any(p["kind"] == "syntax" for p in problems) else None
    if request.form.get("action") == "preview":
        return _editor(form, template, problems, shown)
    if problems:
        flash(_("Not saved: the template has problems (see below)."), "error")
        return _editor(form, template, problems, shown, status=400)
    clash = db.session.execute(
        db.select(Template.id).where(
            Template.tenant_id == tenant_id(),
            Template.key == form.key.data,
            Template.language == form.language.data,
            Template.id != (template.id if template else -1),
        )
    ).scalar()
    if clash is not None:
        form.key.errors = [*form.key.errors, _("This key already has a version in this language.")]
        return _editor(form, template, problems, shown, status=400)
    created = template is None
    if created:
        template = Template(tenant_id=tenant_id())
        db.session.add(template)
    for name in ("key", "language", "subject", "body_html", "body_text"):
        setattr(template, name, getattr(form, name).data or "")
    db.session.flush()
    audit_action = "template.created" if created else "template.saved"

    audit(tenant_id(), actor(), audit_action, "template", template.id, key=template.key, language=template.language)
    db.session.commit()
    flash(_("Template saved."), "success")
    return redirect(url_for("admin.templates_edit", id=template.id, event=form.event.data or None))


@bp.route("/templates/preview", methods=["POST"])
def templates_preview():
    """The live preview of the editor (called by admin.js; CSRF in a header)."""
    form = _form()
    problems = check(form)
    shown = preview(form) if not any(p["kind"] == "syntax" for p in problems) else None
    for problem in problems:
        problem["message"] = said(problem["message"])
    return jsonify(
        problems=problems,
        hints=hints(form, None),
        preview=None
        if shown is None
        else {"subject": shown.subject, "html": shown.body_html, "text": shown.body_text, "error": shown.error},
    )


@bp.route("/templates/placeholders")
def templates_placeholders():
    return jsonify(
        [
            {"name": p.name, "description": p.description, "sample": str(p.sample)}
            for p in placeholders(request.args.get("event", ""), request.args.get("language") or None)
        ]
    )


@bp.route("/templates/delete", methods=["POST"])
def templates_delete():
    form = ActionForm()
    if not form.validate_on_submit():
        return redirect(url_for("admin.templates_list"))
    template = get_owned(Template, form.id.data)
    users = _rules_by_key().get(template.key, [])
    if users:
        names = ", ".join(f"#{r.id} {r.name or r.event}" for r in users)
        flash(
            _(
                "The template '%(key)s' is used by these rules and cannot be deleted: %(rules)s",
                key=template.key,
                rules=names,
            ),
            "error",
        )
        return redirect(url_for("admin.templates_list"))

    trash.delete("template", template, _("Template deleted."), key=template.key, language=template.language)
    db.session.commit()
    return redirect(url_for("admin.templates_list"))
