"""Sign-in codes by mail (a second factor after the password).

The tenant decides (``Tenant.sign_in_codes``): off, optional (each user
chooses on their account page), required for admins, required for
everyone. After the right password such a user is not logged in yet: a
6-digit code goes out as system mail, valid CODE_MINUTES, single use,
CODE_TRIES wrong tries (each also counts as a failed log-in of the
account), compared in constant time. A recovery code works instead of the
mailed one. "Remember this browser" sets a cookie signed with the secret
key for REMEMBER_DAYS, bound to the user's password hash: a new password
ends it. Every step is audited.
"""

from __future__ import annotations

import hashlib
import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from .. import account_secrets, system_mail, system_templates
from ..account_secrets import CodeResult
from ..extensions import db
from ..models import Tenant, User
from ..notify import audit
from ..ratelimit import allow, client_address
from . import sessions

bp = Blueprint("sign_in", __name__)

POLICIES = ("off", "optional", "admins", "everyone")
POLICY_LABELS = {
    "off": _l("off"),
    "optional": _l("optional: each user chooses"),
    "admins": _l("required for admins"),
    "everyone": _l("required for everyone"),
}
REMEMBER_DAYS = 30
PENDING = "_pw_code_pending"
RESENDS = (3, 600)  # new codes one account may ask for per 10 minutes


def required(user: User) -> bool:
    """Whether ``user`` needs a sign-in code after the password."""
    policy = db.session.get(Tenant, user.tenant_id).sign_in_codes or "off"
    return (
        policy == "everyone"
        or (policy == "admins" and user.is_admin)
        or (policy == "optional" and bool(user.sign_in_codes))
    )


# --- remember this browser ---------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="postwerk-sign-in-remember")


def _cookie_name(user: User) -> str:
    return f"postwerk_remember_{user.id}"


def _binding(user: User) -> str:
    # A new password (a reset after a stolen laptop) ends every remembered browser.
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:32]


def remembered(user: User) -> bool:
    value = request.cookies.get(_cookie_name(user))
    if not value:
        return False
    try:
        data = _serializer().loads(value, max_age=REMEMBER_DAYS * 86400)
    except BadSignature:
        return False
    return isinstance(data, dict) and data.get("u") == user.id and data.get("b") == _binding(user)


def _remember(response, user: User):
    response.set_cookie(
        _cookie_name(user),
        _serializer().dumps({"u": user.id, "b": _binding(user)}),
        max_age=REMEMBER_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", True),
    )
    return response


# --- the second step of the log-in -------------------------------------------------


def begin(user: User):
    """After the right password: mail a code and ask for it (not logged in yet)."""
    session.clear()
    session[PENDING] = {"user": user.id, "at": int(time.time())}
    if not _send_code(user):
        return redirect(url_for("auth.login"))
    return redirect(url_for("sign_in.code"))


def _send_code(user: User) -> bool:
    code = account_secrets.issue_code(user)
    try:
        system_mail.queue_for_user(
            user,
            system_templates.SIGN_IN_CODE,
            {"code": code, "minutes": account_secrets.CODE_MINUTES, "client": client_address()},
        )
    except system_mail.SystemMailError as exc:
        db.session.rollback()
        audit(user.tenant_id, f"user:{user.id}", "auth.sign_in_code_failed", "user", user.id, reason=str(exc))
        db.session.commit()
        flash(
            _(
                "The sign-in code cannot be mailed: the tenant's template for it is broken. An admin can use a "
                "recovery code."
            ),
            "error",
        )
        return False
    audit(user.tenant_id, f"user:{user.id}", "auth.sign_in_code_sent", "user", user.id, client=client_address())
    db.session.commit()
    system_mail.wake(user.tenant_id)
    return True


def _pending_user() -> User | None:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > account_secrets.CODE_MINUTES * 60:
        return None
    return db.session.get(User, pending.get("user"))


class CodeForm(FlaskForm):
    code = StringField(_l("Code from the mail, or a recovery code"), validators=[DataRequired(), Length(max=40)])
    remember = BooleanField(_l("Remember this browser for 30 days"))


@bp.route("/login/code", methods=["GET", "POST"])
def code():
    user = _pending_user()
    if user is None:
        session.pop(PENDING, None)
        flash(_("The sign-in has expired: please log in again."), "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("auth/code.html", form=form, email=user.email), 400 if form.is_submitted() else 200
    tenant = db.session.get(Tenant, user.tenant_id)
    account, client = f"{tenant.slug}/{user.email}", client_address()
    if sessions.locked(account, client):
        flash(_("Too many failed log-ins: this account or your address is locked for a while."), "error")
        return render_template("auth/code.html", form=form, email=user.email), 429
    given = form.code.data.strip()
    if "-" in given:
        ok, action = account_secrets.check_recovery_code(user, given), "auth.recovery_code_used"
        result = CodeResult.OK if ok else CodeResult.WRONG
    else:
        result, action = account_secrets.check_code(user, given), "auth.sign_in_code_ok"
    if result != CodeResult.OK:
        sessions.failed(account, client)
        audit(
            tenant.id,
            "anonymous",
            "auth.sign_in_code_wrong" if result == CodeResult.WRONG else "auth.sign_in_code_dead",
            "user",
            user.id,
            client=client,
        )
        db.session.commit()
        if result == CodeResult.DEAD:
            session.pop(PENDING, None)
            flash(_("This code no longer works (expired, used or too many wrong tries): please log in again."), "error")
            return redirect(url_for("auth.login"))
        flash(_("Wrong code."), "error")
        return render_template("auth/code.html", form=form, email=user.email), 200
    audit(tenant.id, f"user:{user.id}", action, "user", user.id, client=client, remember=bool(form.remember.data))
    if action == "auth.recovery_code_used":
        audit(
            tenant.id,
            f"user:{user.id}",
            "auth.recovery_codes_left",
            "user",
            user.id,
            left=account_secrets.recovery_codes_left(user),
        )
    db.session.commit()
    sessions.succeeded(account)
    sessions.start(user.id)
    login_user(user)
    response = redirect(url_for("home.index"))
    return _remember(response, user) if form.remember.data else response


@bp.route("/login/code/resend", methods=["POST"])
def resend():
    user = _pending_user()
    if user is None:
        return redirect(url_for("sign_in.code"))
    if not allow(f"sign-in-code:{user.id}", limit=RESENDS[0], window=RESENDS[1]):
        flash(_("Too many codes asked for: please wait a few minutes."), "error")
        return redirect(url_for("sign_in.code"))
    if _send_code(user):
        flash(_("A new code is on its way; earlier ones no longer work."), "success")
    return redirect(url_for("sign_in.code"))


# --- the account page ----------------------------------------------------------------


class AccountForm(FlaskForm):
    """One form for the page's three buttons (``action``): own choice,
    tenant policy (admins), new recovery codes."""

    codes = BooleanField(_l("Ask me for a code by mail after the password"))
    policy = SelectField(
        _l("Sign-in codes for this tenant"),
        validate_choice=False,
        choices=[SelectChoice(p, POLICY_LABELS[p]) for p in POLICIES],
    )


@bp.route("/account/sign-in", methods=["GET", "POST"])
@login_required
def account():
    user = db.session.get(User, current_user.id)
    tenant = db.session.get(Tenant, user.tenant_id)
    form = AccountForm()
    new_codes = None
    if form.validate_on_submit():
        action, actor = request.form.get("action"), f"user:{user.id}"
        if action == "own":
            if tenant.sign_in_codes != "optional":
                abort(400)
            user.sign_in_codes = bool(form.codes.data)
            audit(tenant.id, actor, "auth.sign_in_codes_chosen", "user", user.id, on=user.sign_in_codes)
            flash(_("Saved."), "success")
        elif action == "policy":
            if not user.is_admin:
                abort(403)
            if form.policy.data not in POLICIES:
                abort(400)
            before, tenant.sign_in_codes = tenant.sign_in_codes, form.policy.data
            audit(
                tenant.id,
                actor,
                "auth.sign_in_code_policy",
                "tenant",
                tenant.id,
                before=before,
                after=tenant.sign_in_codes,
            )
            flash(_("Saved."), "success")
        elif action == "recovery":
            new_codes = account_secrets.issue_recovery_codes(user)
            audit(tenant.id, actor, "auth.recovery_codes_created", "user", user.id, count=len(new_codes))
        else:
            abort(400)
        db.session.commit()
    form.codes.data = user.sign_in_codes
    form.policy.data = tenant.sign_in_codes
    return render_template(
        "auth/account.html",
        form=form,
        tenant=tenant,
        user=user,
        needed=required(user),
        new_codes=new_codes,
        policy_label=POLICY_LABELS[tenant.sign_in_codes],
        left=account_secrets.recovery_codes_left(user),
    )
