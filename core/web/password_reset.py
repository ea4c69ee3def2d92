"""Forgot password: a mail with a single-use link that sets a new one.

The answer to "send me a link" is the same page, with the same status and
after the same time, whether or not the tenant and the account exist: the
request is padded to ANSWER_SECONDS (1 s). It is rate limited per address
(silently: no mail beyond the limit, the same answer) and per client (429).
Only the SHA-256 of the link's token is stored. Setting the new password
uses the link up, ends every session of the user and is audited.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from .. import account_secrets, system_mail, system_templates
from ..extensions import db
from ..models import Tenant, User
from ..notify import audit
from ..ratelimit import allow, client_address
from . import sessions

bp = Blueprint("password_reset", __name__)

# Every answer to a reset request takes at least this long (config
# RESET_ANSWER_SECONDS overrides it): the mail is queued, not sent, so the
# real work (tens of milliseconds) stays far below it. A server so loaded
# that queuing takes longer shows the difference: doing the work in a job
# for both cases would close that (not built).
ANSWER_SECONDS = 1.0
PER_ADDRESS = (3, 3600)  # reset mails per account and hour
PER_CLIENT = (10, 900)  # reset requests per client address and 15 minutes
MIN_PASSWORD = 10


class ForgotForm(FlaskForm):
    tenant = StringField(_l("Tenant"), validators=[DataRequired(), Length(max=64)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(min=MIN_PASSWORD, max=200, message=_l("At least %(min)d characters.", min=MIN_PASSWORD)),
        ],
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot():
    form = ForgotForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot.html", form=form, sent=False), 400 if form.is_submitted() else 200
    started = time.monotonic()
    client = client_address()
    if not allow(f"reset:client:{client}", limit=PER_CLIENT[0], window=PER_CLIENT[1]):
        _pad(started)
        flash(_("Too many requests from your address: please try again later."), "error")
        return render_template("auth/forgot.html", form=form, sent=False), 429
    slug, email = form.tenant.data.strip(), form.email.data.strip().lower()
    _request_reset(slug, email, client)
    _pad(started)
    return render_template("auth/forgot.html", form=form, sent=True)


def _request_reset(slug: str, email: str, client: str) -> None:
    """Queue the reset mail if the account exists and is within its limit."""
    within = allow(f"reset:account:{slug}/{email}", limit=PER_ADDRESS[0], window=PER_ADDRESS[1])
    tenant = db.session.execute(db.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
    user = (
        None
        if tenant is None
        else db.session.execute(
            db.select(User).where(User.tenant_id == tenant.id, User.email == email)
        ).scalar_one_or_none()
    )
    if user is None:
        return
    if not within:
        audit(tenant.id, "anonymous", "auth.reset_throttled", "user", user.id, client=client)
        db.session.commit()
        return
    token = account_secrets.issue_reset(user)
    try:
        system_mail.queue_for_user(
            user,
            system_templates.PASSWORD_RESET,
            {
                "link": url_for("password_reset.reset", token=token, _external=True),
                "minutes": account_secrets.RESET_MINUTES,
                "client": client,
            },
        )
    except system_mail.SystemMailError as exc:
        db.session.rollback()
        current_app.logger.error("tenant %s: the password reset mail cannot be rendered: %s", tenant.id, exc)
        audit(tenant.id, "anonymous", "auth.reset_failed", "user", user.id, client=client, reason=str(exc))
        db.session.commit()
        return
    audit(tenant.id, "anonymous", "auth.reset_requested", "user", user.id, client=client)
    db.session.commit()
    system_mail.wake(tenant.id)


def _pad(started: float) -> None:
    floor = current_app.config.get("RESET_ANSWER_SECONDS", ANSWER_SECONDS)
    rest = floor - (time.monotonic() - started)
    if rest > 0:
        time.sleep(rest)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset(token: str):
    row = account_secrets.live_reset(token) if len(token) <= 100 else None
    if row is None:
        return render_template("auth/reset.html", form=None), 404
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/reset.html", form=form), 400 if form.is_submitted() else 200
    user = db.session.get(User, row.user_id)
    if user is None or not account_secrets.use(row):
        db.session.rollback()
        abort(404)
    # In the same transaction as the new password: no session outlives it.
    ended = sessions.end_all(user.id)
    user.set_password(form.password.data)
    audit(
        user.tenant_id,
        f"user:{user.id}",
        "auth.password_reset",
        "user",
        user.id,
        client=client_address(),
        sessions_ended=ended,
    )
    db.session.commit()
    sessions.end()
    tenant = db.session.get(Tenant, user.tenant_id)
    sessions.succeeded(f"{tenant.slug}/{user.email}")  # a lock-out from wrong guesses ends with the new password
    flash(_("Your password has been changed. Every session of your account has ended: please log in."), "success")
    return redirect(url_for("auth.login"))
