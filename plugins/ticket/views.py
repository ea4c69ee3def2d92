"""Ticket pages: list and report a ticket (as staff, for the demo and tests)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from core.api import current_tenant_id, db, plugin_enabled_required

from .models import Ticket
from .service import create_ticket

bp = Blueprint("ticket", __name__, url_prefix="/tickets", template_folder="templates")


class TicketForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description")
    reporter_name = StringField("Reporter", validators=[DataRequired(), Length(max=200)])
    reporter_email = EmailField("Reporter's e-mail", validators=[DataRequired(), Email()])
    reporter_language = SelectField("Language", choices=[SelectChoice("de", "Deutsch"), SelectChoice("en", "English")])


@bp.route("/", methods=["GET", "POST"])
@plugin_enabled_required("ticket")
def index():
    tenant_id = current_tenant_id()
    form = TicketForm()
    if form.validate_on_submit():
        ticket = create_ticket(tenant_id, title=form.title.data, description=form.description.data or "",
                               reporter_name=form.reporter_name.data, reporter_email=form.reporter_email.data,
                               reporter_language=form.reporter_language.data, actor_user_id=current_user.id)
        db.session.commit()
        flash(f"Ticket #{ticket.id} created.", "success")
        return redirect(url_for("ticket.index"))
    tickets = db.session.execute(db.select(Ticket).where(Ticket.tenant_id == tenant_id)
                                 .order_by(Ticket.id.desc()).limit(50)).scalars().all()
    return render_template("ticket/index.html", form=form, tickets=tickets)
