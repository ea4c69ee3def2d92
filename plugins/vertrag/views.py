"""Contract pages: the list, a new contract, one contract (edit, sign, terminate)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from core.api import current_tenant_id, db, plugin_enabled_required

from . import service
from .models import NAME, PARTIES, Contract

bp = Blueprint(NAME, __name__, url_prefix="/contracts", template_folder="templates")
LANGUAGES = [SelectChoice("de", "Deutsch"), SelectChoice("en", "English")]


class ContractForm(FlaskForm):
    number = StringField(_l("Contract number"), validators=[DataRequired(), Length(max=50)])
    property_address = StringField(_l("Property address"), validators=[DataRequired(), Length(max=300)])
    start_date = DateField(_l("Start"), validators=[DataRequired()])
    end_date = DateField(_l("End (empty: open-ended)"), validators=[Optional()])
    rent = StringField(_l("Monthly rent (EUR)"), validators=[DataRequired(), Length(max=20)])
    mieter_salutation = StringField(_l("Renter: salutation"), validators=[Optional(), Length(max=50)])
    mieter_name = StringField(_l("Renter: name"), validators=[DataRequired(), Length(max=200)])
    mieter_email = EmailField(_l("Renter: e-mail"), validators=[DataRequired(), Email()])
    mieter_language = SelectField(_l("Renter: language"), choices=LANGUAGES)
    vermieter_salutation = StringField(_l("Landlord: salutation"), validators=[Optional(), Length(max=50)])
    vermieter_name = StringField(_l("Landlord: name"), validators=[DataRequired(), Length(max=200)])
    vermieter_email = EmailField(_l("Landlord: e-mail"), validators=[DataRequired(), Email()])
    vermieter_language = SelectField(_l("Landlord: language"), choices=LANGUAGES)
    notes = TextAreaField(_l("Notes"), validators=[Optional()])

    def values(self) -> dict:
        return {
            name: field.data if field.data is not None else ("" if name != "end_date" else None)
            for name, field in self._fields.items()
            if name != "csrf_token"
        }


class SignForm(FlaskForm):
    pass


class TerminateForm(FlaskForm):
    end_date = DateField(_l("Last day of the tenancy"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])


def _contract_or_404(contract_id: int) -> Contract:
    try:
        return service.get_contract(current_tenant_id(), contract_id)
    except service.ContractNotFound:
        abort(404)


@bp.route("/", methods=["GET", "POST"])
@plugin_enabled_required(NAME)
def index():
    tenant_id = current_tenant_id()
    form = ContractForm()
    if form.validate_on_submit():
        try:
            contract = service.create_contract(tenant_id, actor_user_id=current_user.id, **form.values())
        except service.ContractError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Contract %(number)s created.", number=contract.number), "success")
            return redirect(url_for(".show", contract_id=contract.id))
    rows = (
        db.session.execute(
            db.select(Contract).where(Contract.tenant_id == tenant_id).order_by(Contract.id.desc()).limit(100)
        )
        .scalars()
        .all()
    )
    return render_template("vertrag/index.html", form=form, contracts=rows, parties=PARTIES)


@bp.route("/<int:contract_id>", methods=["GET", "POST"])
@plugin_enabled_required(NAME)
def show(contract_id: int):
    contract = _contract_or_404(contract_id)
    form = ContractForm(obj=contract, data={"rent": contract.rent} if not _posted() else None)
    if form.validate_on_submit():
        try:
            service.update_contract(contract.tenant_id, contract.id, **form.values())
        except service.ContractError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Contract saved."), "success")
            return redirect(url_for(".show", contract_id=contract.id))
    return render_template(
        "vertrag/show.html",
        contract=contract,
        form=form,
        sign_form=SignForm(),
        terminate_form=TerminateForm(formdata=None),
    )


def _posted() -> bool:
    from flask import request

    return request.method == "POST"


@bp.post("/<int:contract_id>/sign")
@plugin_enabled_required(NAME)
def sign(contract_id: int):
    contract = _contract_or_404(contract_id)
    if not SignForm().validate_on_submit():
        abort(400)
    try:
        service.sign(contract.tenant_id, contract.id, actor_user_id=current_user.id)
    except service.ContractError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Contract %(number)s is signed.", number=contract.number), "success")
    return redirect(url_for(".show", contract_id=contract.id))


@bp.post("/<int:contract_id>/terminate")
@plugin_enabled_required(NAME)
def terminate(contract_id: int):
    contract = _contract_or_404(contract_id)
    form = TerminateForm()
    if not form.validate_on_submit():
        flash(_("Give the last day of the tenancy."), "error")
        return redirect(url_for(".show", contract_id=contract.id))
    try:
        service.terminate(
            contract.tenant_id,
            contract.id,
            end_date=form.end_date.data,
            reason=form.reason.data or "",
            actor_user_id=current_user.id,
        )
    except service.ContractError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(_("Contract %(number)s is terminated.", number=contract.number), "success")
    return redirect(url_for(".show", contract_id=contract.id))
