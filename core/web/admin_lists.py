"""Distribution lists: named sets of fixed addresses, usable by any rule as ``list:NAME``."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from .. import distribution_lists
from ..extensions import db
from ..models import DistributionList
from ..notify import audit
from .auth import admin_required

bp = Blueprint("admin_lists", __name__, url_prefix="/settings/admin/mail/lists")


class ListForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)])
    addresses = TextAreaField(_l("Addresses (one per line, or separated by commas)"), validators=[DataRequired()])


class DeleteForm(FlaskForm):
    pass


def _own(list_id: int) -> DistributionList:
    row = db.session.execute(
        db.select(DistributionList).where(
            DistributionList.tenant_id == current_user.tenant_id, DistributionList.id == list_id
        )
    ).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


def _save(form: ListForm, list_id: int | None):
    try:
        row = distribution_lists.save(current_user.tenant_id, form.name.data, form.addresses.data, list_id=list_id)
    except distribution_lists.ListError as exc:
        form.addresses.errors.append(str(exc)) if "address" in str(exc) else form.name.errors.append(str(exc))
        return None
    audit(
        current_user.tenant_id,
        f"user:{current_user.id}",
        "list.saved",
        "distribution_list",
        row.id,
        name=row.name,
        count=len(row.addresses),
    )
    db.session.commit()
    flash(_("List %(name)s saved: rules reach it as list:%(name)s.", name=row.name), "success")
    return redirect(url_for(".index"))


@bp.route("/", methods=["GET", "POST"])
@admin_required
def index():
    form = ListForm()
    if form.validate_on_submit():
        done = _save(form, None)
        if done is not None:
            return done
    lists = (
        db.session.execute(
            db.select(DistributionList)
            .where(DistributionList.tenant_id == current_user.tenant_id)
            .order_by(DistributionList.name)
        )
        .scalars()
        .all()
    )
    return render_template("admin/lists.html", form=form, lists=lists, delete_form=DeleteForm())


@bp.route("/<int:list_id>", methods=["GET", "POST"])
@admin_required
def edit(list_id: int):
    row = _own(list_id)
    form = ListForm(data={"name": row.name, "addresses": "\n".join(row.addresses)})
    if form.validate_on_submit():
        done = _save(form, row.id)
        if done is not None:
            return done
    return render_template("admin/list_edit.html", form=form, row=row)


@bp.post("/<int:list_id>/delete")
@admin_required
def delete(list_id: int):
    if not DeleteForm().validate_on_submit():
        abort(400)
    row = _own(list_id)
    audit(current_user.tenant_id, f"user:{current_user.id}", "list.deleted", "distribution_list", row.id, name=row.name)
    db.session.delete(row)
    db.session.commit()
    flash(_("List %(name)s deleted. Rules that named it no longer find recipients.", name=row.name), "success")
    return redirect(url_for(".index"))
