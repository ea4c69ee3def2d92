"""Log-in and log-out; the current user's tenant scopes every admin page."""
from __future__ import annotations

import functools

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired

from ..extensions import db, login_manager
from ..models import Tenant, User
from ..plugins import registry

bp = Blueprint("auth", __name__)


def init_app(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to access this page.")


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


class LoginForm(FlaskForm):
    tenant = StringField(_l("Tenant"), validators=[DataRequired()])
    email = EmailField(_l("E-mail"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        tenant = db.session.execute(db.select(Tenant).where(Tenant.slug == form.tenant.data.strip())
                                    ).scalar_one_or_none()
        user = None
        if tenant is not None:
            user = db.session.execute(db.select(User).where(
                User.tenant_id == tenant.id, User.email == form.email.data.strip().lower())).scalar_one_or_none()
        if user is None or not user.check_password(form.password.data):
            flash(gettext("Unknown tenant, e-mail or password."), "error")
        else:
            login_user(user)
            target = request.args.get("next", "")
            # Only local paths: never an open redirect.
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("home.index")
            return redirect(target)
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


def current_tenant_id() -> int:
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
