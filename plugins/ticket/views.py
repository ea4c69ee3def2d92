"""Ticket pages: the list, reporting a ticket, and one ticket's page
(status, assignee, watchers, comments, attachments)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from core.api import current_tenant_id, db, plugin_enabled_required, users_of

from . import service, workspace_views, workspaces
from .models import NAME, STATUSES, Ticket, TicketAttachment, TicketComment

bp = Blueprint("ticket", __name__, url_prefix="/tickets", template_folder="templates")
workspace_views.register(bp)

# The statuses as words in the reader's language (the stored values stay English keys).
STATUS_WORDS = {"open": _l("open"), "in_progress": _l("in progress"), "waiting": _l("waiting"), "closed": _l("closed")}


class TicketForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"))
    reporter_name = StringField(_l("Reporter"), validators=[DataRequired(), Length(max=200)])
    reporter_email = EmailField(_l("Reporter's e-mail"), validators=[DataRequired(), Email()])
    reporter_language = SelectField(
        _l("Language"), choices=[SelectChoice("de", "Deutsch"), SelectChoice("en", "English")]
    )
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[SelectChoice(s, STATUS_WORDS[s]) for s in STATUSES])


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assignee"), choices=[], validate_choice=False)


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Comment"))
    attachment = FileField(_l("Attachment"))


class WatcherForm(FlaskForm):
    email = EmailField(_l("Watcher's e-mail"), validators=[DataRequired(), Email()])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])


class PlainForm(FlaskForm):
    pass


def _user_choices(tenant_id: int) -> list[SelectChoice]:
    return [SelectChoice("", _("nobody"))] + [
        SelectChoice(str(u.id), f"{u.name} <{u.email}>") for u in users_of(tenant_id)
    ]


def _user_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _ticket_or_404(tenant_id: int, ticket_id: int) -> Ticket:
    try:
        return service.get_ticket(tenant_id, ticket_id)
    except service.TicketNotFound:
        abort(404)


@bp.route("/", methods=["GET", "POST"])
@plugin_enabled_required(NAME)
def index():
    tenant_id = current_tenant_id()
    form = TicketForm()
    form.assignee.choices = _user_choices(tenant_id)
    if form.validate_on_submit():
        try:
            ticket = service.create_ticket(
                tenant_id,
                title=form.title.data,
                description=form.description.data or "",
                reporter_name=form.reporter_name.data,
                reporter_email=form.reporter_email.data,
                reporter_language=form.reporter_language.data,
                assignee_id=_user_id(form.assignee.data),
                actor_user_id=current_user.id,
            )
        except service.TicketError as exc:
            form.title.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Ticket #%(id)s created.", id=ticket.id), "success")
            return redirect(url_for("ticket.index"))
    spaces = workspaces.all_of(tenant_id)
    db.session.commit()  # the default workspace, when this made it
    query = db.select(Ticket).where(Ticket.tenant_id == tenant_id)
    shown = request.args.get("workspace", "")
    if shown.isdigit() and any(w.id == int(shown) for w in spaces):
        query = query.where(Ticket.workspace_id == int(shown))
    else:
        shown = ""
    tickets = db.session.execute(query.order_by(Ticket.id.desc()).limit(50)).scalars().all()
    return render_template(
        "ticket/index.html",
        form=form,
        tickets=tickets,
        workspaces=spaces,
        shown=shown,
        names={w.id: w.name for w in spaces},
    )


@bp.get("/<int:ticket_id>")
@plugin_enabled_required(NAME)
def show(ticket_id: int):
    tenant_id = current_tenant_id()
    ticket = _ticket_or_404(tenant_id, ticket_id)
    return _render_show(ticket)


def _render_show(ticket: Ticket, **forms):
    tenant_id = ticket.tenant_id
    status_form = forms.get("status_form") or StatusForm(data={"status": ticket.status})
    assign_form = forms.get("assign_form") or AssignForm(data={"assignee": str(ticket.assignee_id or "")})
    assign_form.assignee.choices = _user_choices(tenant_id)
    comments = (
        db.session.execute(
            db.select(TicketComment)
            .where(TicketComment.tenant_id == tenant_id, TicketComment.ticket_id == ticket.id)
            .order_by(TicketComment.id)
        )
        .scalars()
        .all()
    )
    files = db.session.execute(
        db.select(TicketAttachment.id, TicketAttachment.filename, TicketAttachment.size, TicketAttachment.comment_id)
        .where(TicketAttachment.tenant_id == tenant_id, TicketAttachment.ticket_id == ticket.id)
        .order_by(TicketAttachment.id)
    ).all()
    assignee = next((u for u in users_of(tenant_id) if u.id == ticket.assignee_id), None)
    move_form = workspace_views.MoveForm(data={"workspace": str(ticket.workspace_id or "")})
    move_form.workspace.choices = [SelectChoice(str(w.id), w.name) for w in workspaces.all_of(tenant_id)]
    return render_template(
        "ticket/show.html",
        ticket=ticket,
        comments=comments,
        files=files,
        assignee=assignee,
        move_form=move_form,
        status_form=status_form,
        assign_form=assign_form,
        comment_form=forms.get("comment_form") or CommentForm(),
        watcher_form=forms.get("watcher_form") or WatcherForm(),
        plain_form=PlainForm(),
    )


@bp.post("/<int:ticket_id>/status")
@plugin_enabled_required(NAME)
def status(ticket_id: int):
    tenant_id = current_tenant_id()
    ticket = _ticket_or_404(tenant_id, ticket_id)
    form = StatusForm()
    if not form.validate_on_submit():
        return _render_show(ticket, status_form=form), 400
    service.change_status(tenant_id, ticket.id, form.status.data, actor_user_id=current_user.id)
    db.session.commit()
    flash(_("Ticket #%(id)s is now %(status)s.", id=ticket.id, status=form.status.data.replace("_", " ")), "success")
    return redirect(url_for("ticket.show", ticket_id=ticket.id))


@bp.post("/<int:ticket_id>/assign")
@plugin_enabled_required(NAME)
def assign(ticket_id: int):
    tenant_id = current_tenant_id()
    ticket = _ticket_or_404(tenant_id, ticket_id)
    form = AssignForm()
    form.assignee.choices = _user_choices(tenant_id)
    if not form.validate_on_submit():
        abort(400)
    try:
        service.assign(tenant_id, ticket.id, _user_id(form.assignee.data))
    except service.TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("ticket.show", ticket_id=ticket.id))
    db.session.commit()
    flash(_("Assignee saved."), "success")
    return redirect(url_for("ticket.show", ticket_id=ticket.id))


@bp.post("/<int:ticket_id>/comments")
@plugin_enabled_required(NAME)
def comment(ticket_id: int):
    tenant_id = current_tenant_id()
    ticket = _ticket_or_404(tenant_id, ticket_id)
    form = CommentForm()
    if not form.validate_on_submit():
        abort(400)
    files = ()
    upload = form.attachment.data
    if upload and upload.filename:
        content = upload.read(service.MAX_ATTACHMENT_BYTES + 1)
        files = ((upload.filename, upload.mimetype or "application/octet-stream", content),)
    try:
        service.add_comment(
            tenant_id,
            ticket.id,
            author_name=current_user.name,
            author_email=current_user.email,
            body=form.body.data or "",
            source="web",
            actor_user_id=current_user.id,
            attachments=files,
        )
    except service.TicketError as exc:
        db.session.rollback()
        form.body.errors.append(str(exc))
        return _render_show(ticket, comment_form=form), 422
    db.session.commit()
    flash(_("Comment added."), "success")
    return redirect(url_for("ticket.show", ticket_id=ticket.id))


@bp.post("/<int:ticket_id>/watchers")
@plugin_enabled_required(NAME)
def watch(ticket_id: int):
    tenant_id = current_tenant_id()
    ticket = _ticket_or_404(tenant_id, ticket_id)
    form = WatcherForm()
    if not form.validate_on_submit():
        return _render_show(ticket, watcher_form=form), 422
    try:
        service.add_watcher(tenant_id, ticket.id, form.email.data, form.name.data or "")
    except service.TicketError as exc:
        form.email.errors.append(str(exc))
        return _render_show(ticket, watcher_form=form), 422
    db.session.commit()
    return redirect(url_for("ticket.show", ticket_id=ticket.id))


@bp.post("/<int:ticket_id>/watchers/<int:watcher_id>/delete")
@plugin_enabled_required(NAME)
def unwatch(ticket_id: int, watcher_id: int):
    tenant_id = current_tenant_id()
    ticket = _ticket_or_404(tenant_id, ticket_id)
    if not PlainForm().validate_on_submit():
        abort(400)
    service.remove_watcher(tenant_id, ticket.id, watcher_id)
    db.session.commit()
    return redirect(url_for("ticket.show", ticket_id=ticket.id))


@bp.get("/<int:ticket_id>/attachments/<int:attachment_id>")
@plugin_enabled_required(NAME)
def attachment(ticket_id: int, attachment_id: int):
    tenant_id = current_tenant_id()
    row = db.session.execute(
        db.select(TicketAttachment).where(
            TicketAttachment.tenant_id == tenant_id,
            TicketAttachment.ticket_id == ticket_id,
            TicketAttachment.id == attachment_id,
        )
    ).scalar_one_or_none()
    if row is None:
        abort(404)
    # Always a download, never rendered inline: the file comes from strangers.
    response = Response(row.content, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = _disposition(row.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _disposition(filename: str) -> str:
    from urllib.parse import quote

    filename = service.clean_filename(filename)  # rows stored before names were cleaned
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
