"""The public inquiry form (no login) and the office's list of inquiries."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from core.api import (
    AddressError,
    admin_required,
    check_address,
    client_address,
    current_tenant_id,
    db,
    plugin_enabled,
    plugin_enabled_required,
    rate_limit,
    tenant_by_slug,
)

from . import service
from .models import NAME, Inquiry

bp = Blueprint(NAME, __name__, template_folder="templates")

# Per client address and tenant; app config may override (HOMEPAGE_INQUIRY_LIMIT, _WINDOW).
DEFAULT_LIMIT = 5
DEFAULT_WINDOW = 600
# Confirmations to one address, whoever asks: nobody makes Postwerk mail a
# third party over and over (HOMEPAGE_INQUIRY_ADDRESS_LIMIT / _WINDOW).
DEFAULT_ADDRESS_LIMIT = 3
DEFAULT_ADDRESS_WINDOW = 3600

LABELS = {
    "de": dict(
        title="Anfrage an {name}",
        name="Name",
        email="E-Mail",
        phone="Telefon (optional)",
        message="Ihre Nachricht",
        property_ref="Objekt (optional, z. B. Adresse oder Objektnummer)",
        send="Anfrage senden",
        thanks="Vielen Dank! Ihre Anfrage ist eingegangen; Sie erhalten eine Bestätigung per E-Mail.",
        too_many="Zu viele Anfragen von Ihrer Adresse. Bitte versuchen Sie es in einigen Minuten erneut.",
        too_many_address="Für diese E-Mail-Adresse sind schon mehrere Anfragen "
        "eingegangen. Bitte versuchen Sie es später erneut.",
        website="Website (bitte leer lassen)",
        other="English",
    ),
    "en": dict(
        title="Inquiry to {name}",
        name="Name",
        email="E-mail",
        phone="Phone (optional)",
        message="Your message",
        property_ref="Property (optional, e.g. address or object number)",
        send="Send inquiry",
        thanks="Thank you! Your inquiry has arrived; you will receive a confirmation by e-mail.",
        too_many="Too many inquiries from your address. Please try again in a few minutes.",
        too_many_address="Several inquiries for this e-mail address have already arrived. Please try again later.",
        website="Website (leave empty)",
        other="Deutsch",
    ),
}


class InquiryForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    phone = StringField(
        "Phone",
        validators=[
            Optional(),
            Length(max=50),
            Regexp(r"^[0-9+()/ .-]*$", message="digits, spaces and + ( ) / - only"),
        ],
    )
    message = TextAreaField("Message", validators=[DataRequired(), Length(max=5000)])
    property_ref = StringField("Property", validators=[Optional(), Length(max=200)])
    lang = HiddenField()
    # The honeypot: hidden from people, filled in by form-filling bots.
    website = StringField("Website")


def _public_tenant(slug: str):
    tenant = tenant_by_slug(slug)
    if tenant is None or not plugin_enabled(tenant.id, NAME):
        abort(404)
    return tenant


def _language(tenant, wanted: str | None) -> str:
    """?lang= (the form's own switch), else the visitor's browser, else the tenant's language."""
    if wanted in LABELS:
        return wanted
    browser = request.accept_languages.best_match(list(LABELS)) if request.accept_languages else None
    return browser or (tenant.language if tenant.language in LABELS else "de")


@bp.route("/t/<slug>/inquiry", methods=["GET", "POST"])
def inquiry(slug: str):
    tenant = _public_tenant(slug)
    form = InquiryForm()
    lang = _language(tenant, form.lang.data if request.method == "POST" else request.args.get("lang"))
    form.lang.data = lang
    words = LABELS[lang]
    if request.method == "POST":
        limit = current_app.config.get("HOMEPAGE_INQUIRY_LIMIT", DEFAULT_LIMIT)
        window = current_app.config.get("HOMEPAGE_INQUIRY_WINDOW", DEFAULT_WINDOW)
        if not rate_limit(f"{NAME}:{tenant.id}:{client_address()}", limit=limit, window=window):
            return (
                render_template(
                    "homepage/form.html", tenant=tenant, form=form, words=words, lang=lang, error=words["too_many"]
                ),
                429,
                {"Retry-After": str(window)},
            )
        if form.validate_on_submit():
            if form.website.data:
                # A bot: answer like a success so it learns nothing; keep nothing.
                current_app.logger.info("inquiry for %s dropped: honeypot filled", tenant.slug)
                return redirect(url_for(".thanks", slug=tenant.slug, lang=lang))
            address_window = current_app.config.get("HOMEPAGE_INQUIRY_ADDRESS_WINDOW", DEFAULT_ADDRESS_WINDOW)
            if not rate_limit(
                f"{NAME}:{tenant.id}:to:{form.email.data.strip().lower()}",
                limit=current_app.config.get("HOMEPAGE_INQUIRY_ADDRESS_LIMIT", DEFAULT_ADDRESS_LIMIT),
                window=address_window,
            ):
                return (
                    render_template(
                        "homepage/form.html",
                        tenant=tenant,
                        form=form,
                        words=words,
                        lang=lang,
                        error=words["too_many_address"],
                    ),
                    429,
                    {"Retry-After": str(address_window)},
                )
            service.submit_inquiry(
                tenant.id,
                name=form.name.data,
                email=form.email.data,
                phone=form.phone.data or "",
                message=form.message.data,
                property_ref=form.property_ref.data or "",
                language=lang,
                url_for_inquiry=lambda i: url_for(".show", inquiry_id=i, _external=True),
            )
            db.session.commit()
            return redirect(url_for(".thanks", slug=tenant.slug, lang=lang))
        status = 422
    else:
        status = 200
    return render_template("homepage/form.html", tenant=tenant, form=form, words=words, lang=lang), status


@bp.get("/t/<slug>/inquiry/thanks")
def thanks(slug: str):
    tenant = _public_tenant(slug)
    lang = _language(tenant, request.args.get("lang"))
    return render_template("homepage/thanks.html", tenant=tenant, words=LABELS[lang], lang=lang)


# --- the office's side ------------------------------------------------------------


class OfficeForm(FlaskForm):
    office_email = EmailField(
        _l("Office address for notifications (empty: the distribution list 'office')"),
        validators=[Optional(), Length(max=254)],
    )


@bp.get("/inquiries/")
@plugin_enabled_required(NAME)
def index():
    tenant_id = current_tenant_id()
    rows = (
        db.session.execute(
            db.select(Inquiry).where(Inquiry.tenant_id == tenant_id).order_by(Inquiry.id.desc()).limit(100)
        )
        .scalars()
        .all()
    )
    form = OfficeForm(data={"office_email": service.office_address(tenant_id)})
    return render_template(
        "homepage/index.html", inquiries=rows, form=form, public_url=url_for(".inquiry", slug=_slug(), _external=True)
    )


def _slug() -> str:
    from core.api import tenant_ref_by_id

    return tenant_ref_by_id(current_user.tenant_id).slug


@bp.get("/inquiries/<int:inquiry_id>")
@plugin_enabled_required(NAME)
def show(inquiry_id: int):
    row = db.session.execute(
        db.select(Inquiry).where(Inquiry.tenant_id == current_tenant_id(), Inquiry.id == inquiry_id)
    ).scalar_one_or_none()
    if row is None:
        abort(404)
    return render_template("homepage/show.html", inquiry=row)


@bp.post("/inquiries/settings")
@plugin_enabled_required(NAME)
@admin_required
def settings():
    form = OfficeForm()
    if not form.validate_on_submit():
        abort(400)
    address = (form.office_email.data or "").strip()
    if address:
        try:
            address = check_address(address, field="office address")
        except AddressError as exc:
            flash(str(exc), "error")
            return redirect(url_for(".index"))
    service.set_office_address(current_tenant_id(), address)
    db.session.commit()
    flash(
        _("Office address saved.") if address else _("Notifications go to the distribution list 'office'."), "success"
    )
    return redirect(url_for(".index"))
