"""Log-in and log-out; the current user's tenant scopes every admin page."""

from __future__ import annotations

import functools

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired

from ..extensions import db, login_manager
from ..models import Tenant, User
from ..notify import audit, notify
from ..plugins import registry
from ..ratelimit import client_address
from . import sessions, sign_in_codes

bp = Blueprint("auth", __name__)


def init_app(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to access this page.")


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    # A cookie whose session was ended on the server (logout, idle, too old) is nobody.
    if not sessions.alive(user_id):
        return None
    return db.session.get(User, int(user_id))


class LoginForm(FlaskForm):
    tenant = StringField(_l("Tenant"), validators=[DataRequired()])
    email = EmailField(_l("E-mail"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        slug, email = form.tenant.data.strip(), form.email.data.strip().lower()
        account, client = f"{slug}/{email}", client_address()
        if sessions.locked(account, client):
            flash(_("Too many failed log-ins: this account or your address is locked for a while."), "error")
            return render_template("auth/login.html", form=form), 429
        tenant = db.session.execute(db.select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
        user = None
        if tenant is not None:
            user = db.session.execute(
                db.select(User).where(User.tenant_id == tenant.id, User.email == email)
            ).scalar_one_or_none()
        if user is None:
            sessions.burn_password_check(form.password.data)
        if user is None or not user.check_password(form.password.data):
            if sessions.failed(account, client) and tenant is not None:
                notify(
                    tenant.id,
                    "warning",
                    f"log-ins for {email} are locked for a while after repeated wrong passwords (last from {client})",
                )
                audit(tenant.id, "anonymous", "auth.locked", "user", email, client=client)
                db.session.commit()
            flash(_("Unknown tenant, e-mail or password."), "error")
        else:
            if sign_in_codes.required(user) and not sign_in_codes.remembered(user):
                # Not logged in yet: the code mailed now is the second step.
                audit(user.tenant_id, f"user:{user.id}", "auth.password_ok_code_needed", "user", user.id, client=client)
                return sign_in_codes.begin(user)
            sessions.succeeded(account)
            sessions.start(user.id)  # a new session and CSRF secret: nothing from before the log-in survives
            login_user(user)
            # Only same-site paths: never an open redirect.
            return redirect(sessions.safe_next(request.args.get("next", "")) or url_for("home.index"))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    sessions.end()
    return redirect(url_for("auth.login"))


def current_tenant_id() -> int:
    """The logged-in user's tenant id (401 when nobody is logged in)."""
    if not current_user.is_authenticated:
        abort(401)
    return current_user.tenant_id


def admin_required(view):
    """Only admins of a tenant; everything they see is their own tenant's."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def plugin_enabled_required(plugin: str):
    """404 for a logged-in user whose tenant has not enabled ``plugin``."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if plugin not in registry().enabled_plugins(current_user.tenant_id):
                abort(404)
            return view(*args, **kwargs)

        return wrapper

    return decorator
