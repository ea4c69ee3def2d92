"""Workspace pages: the admin manages workspaces (/tickets/workspaces);
anyone working on tickets moves a ticket to another workspace."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from core.api import admin_required, current_tenant_id, db, plugin_enabled_required

from . import service, workspaces
from .models import NAME


class WorkspaceForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    mailbox = StringField(
        _l("Mailbox (its name under Inbound mail; new tickets from it land here)"),
        validators=[Optional(), Length(max=100)],
    )


class MoveForm(FlaskForm):
    workspace = SelectField(_l("Workspace"), choices=[], validate_choice=False)


class ActionForm(FlaskForm):
    pass


def _admin(view):
    return admin_required(plugin_enabled_required(NAME)(view))


def register(bp) -> None:
    @bp.route("/workspaces", methods=["GET", "POST"])
    @_admin
    def workspaces_index():
        tenant_id = current_tenant_id()
        form = WorkspaceForm()
        if form.validate_on_submit():
            try:
                workspace = workspaces.create(tenant_id, form.name.data, form.mailbox.data or "")
            except workspaces.WorkspaceError as exc:
                db.session.rollback()
                form.name.errors.append(str(exc))
            else:
                db.session.commit()
                flash(_("Workspace %(name)s created.", name=workspace.name), "success")
                return redirect(url_for("ticket.workspaces_index"))
        rows = workspaces.all_of(tenant_id)
        db.session.commit()  # the default workspace, when this made it
        return render_template(
            "ticket/workspaces.html",
            form=form,
            workspaces=rows,
            counts=workspaces.counts(tenant_id),
            action_form=ActionForm(),
            edit_forms={w.id: WorkspaceForm(prefix=f"w{w.id}", obj=w) for w in rows},
        ), (422 if form.errors else 200)

    @bp.post("/workspaces/<int:workspace_id>/edit")
    @_admin
    def workspaces_edit(workspace_id: int):
        tenant_id = current_tenant_id()
        form = WorkspaceForm(prefix=f"w{workspace_id}")
        try:
            if not form.validate_on_submit():
                raise workspaces.WorkspaceError("; ".join(e for errors in form.errors.values() for e in errors))
            workspace = workspaces.update(tenant_id, workspace_id, name=form.name.data, mailbox=form.mailbox.data or "")
        except workspaces.WorkspaceNotFound:
            abort(404)
        except workspaces.WorkspaceError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Workspace %(name)s saved.", name=workspace.name), "success")
        return redirect(url_for("ticket.workspaces_index"))

    @bp.post("/workspaces/<int:workspace_id>/default")
    @_admin
    def workspaces_default(workspace_id: int):
        if not ActionForm().validate_on_submit():
            abort(400)
        try:
            workspace = workspaces.make_default(current_tenant_id(), workspace_id)
        except workspaces.WorkspaceNotFound:
            abort(404)
        db.session.commit()
        flash(_("%(name)s is now the default workspace.", name=workspace.name), "success")
        return redirect(url_for("ticket.workspaces_index"))

    @bp.post("/workspaces/<int:workspace_id>/delete")
    @_admin
    def workspaces_delete(workspace_id: int):
        if not ActionForm().validate_on_submit():
            abort(400)
        try:
            moved = workspaces.delete(current_tenant_id(), workspace_id)
        except workspaces.WorkspaceNotFound:
            abort(404)
        except workspaces.WorkspaceError as exc:
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Workspace removed; %(count)s ticket(s) moved to the default workspace.", count=moved), "success")
        return redirect(url_for("ticket.workspaces_index"))

    @bp.post("/<int:ticket_id>/workspace")
    @plugin_enabled_required(NAME)
    def move(ticket_id: int):
        tenant_id = current_tenant_id()
        try:
            ticket = service.get_ticket(tenant_id, ticket_id)
        except service.TicketNotFound:
            abort(404)
        form = MoveForm()
        value = request.form.get("workspace", "")
        if not form.validate_on_submit() or not value.isdigit():
            abort(400)
        try:
            workspace = workspaces.move(tenant_id, ticket, int(value))
        except workspaces.WorkspaceNotFound:
            abort(404)
        db.session.commit()
        flash(_("Ticket #%(id)s moved to %(name)s.", id=ticket.id, name=workspace.name), "success")
        return redirect(url_for("ticket.show", ticket_id=ticket.id))
