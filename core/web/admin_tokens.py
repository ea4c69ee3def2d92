"""API tokens of a tenant: created (shown once) and revoked by the admin."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from .. import api_tokens
from ..extensions import db
from .auth import admin_required

bp = Blueprint("admin_tokens", __name__, url_prefix="/settings/admin/api-tokens")


class TokenForm(FlaskForm):
    name = StringField(_l("Name (which system uses it?)"), validators=[DataRequired(), Length(max=100)])


class RevokeForm(FlaskForm):
    pass


@bp.route("/", methods=["GET", "POST"])
@admin_required
def index():
    form = TokenForm()
    new_token = None
    if form.validate_on_submit():
        _, new_token = api_tokens.create(current_user.tenant_id, form.name.data, actor=f"user:{current_user.id}")
        db.session.commit()
        form = TokenForm(formdata=None)
    # The new token is rendered into this response only: never flashed (the
    # session cookie is signed, not encrypted) and never stored.
    response = render_template(
        "admin/tokens.html",
        form=form,
        tokens=api_tokens.for_tenant(current_user.tenant_id),
        new_token=new_token,
        revoke_form=RevokeForm(),
    )
    return response, 200, {"Cache-Control": "no-store"}


@bp.post("/<int:token_id>/revoke")
@admin_required
def revoke(token_id: int):
    if not RevokeForm().validate_on_submit():
        abort(400)
    row = api_tokens.revoke(current_user.tenant_id, token_id, actor=f"user:{current_user.id}")
    if row is None:
        abort(404)
    db.session.commit()
    flash(_("Token %(name)s revoked.", name=row.name), "success")
    return redirect(url_for(".index"))
