"""The plugins page: every installed plugin, and enabling it per tenant."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func

from ..extensions import db
from ..mail.variables import CORE_VARIABLES
from ..models import PluginState, Rule
from ..plugin_state import paused_events, set_enabled
from ..plugins import PluginError, registry
from .auth import admin_required

bp = Blueprint("admin_plugins", __name__, url_prefix="/settings/admin/plugins")


class ToggleForm(FlaskForm):
    """CSRF only: the plugin and the wanted state are in the URL."""


@bp.get("/")
@admin_required
def index():
    reg = registry()
    tenant_id = current_user.tenant_id
    enabled = reg.enabled_plugins(tenant_id)
    rule_counts = dict(
        db.session.execute(
            db.select(Rule.event, func.count()).where(Rule.tenant_id == tenant_id, Rule.active).group_by(Rule.event)
        ).all()
    )
    paused = paused_events(tenant_id)
    stored = set(
        db.session.execute(
            db.select(PluginState.plugin).where(PluginState.tenant_id == tenant_id, PluginState.enabled)
        ).scalars()
    )
    rows = []
    for name, info in reg.plugins.items():
        rows.append(
            {
                "name": name,
                "info": info,
                "enabled": name in enabled,
                # A broken plugin counts as off, but its stored state can still be switched off.
                "stored_enabled": bool(info.broken) and name in stored,
                "active_rules": sum(rule_counts.get(e.key, 0) for e in info.events),
                # The rules page shows the same words next to each such rule.
                "paused": next((paused[e.key] for e in info.events if e.key in paused), None),
            }
        )
    return render_template("admin/plugins.html", rows=rows, form=ToggleForm(), core_variables=CORE_VARIABLES)


@bp.post("/<name>/<any(enable, disable):action>")
@admin_required
def toggle(name: str, action: str):
    form = ToggleForm()
    if not form.validate_on_submit():
        abort(400)
    if name not in registry().plugins:
        abort(404)
    try:
        set_enabled(current_user.tenant_id, name, action == "enable", actor=f"user:{current_user.id}")
    except PluginError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".index"))
    db.session.commit()
    if action == "enable":
        flash(
            _("%(name)s is enabled. Its default rules were created switched off: review and activate them.", name=name),
            "success",
        )
    else:
        flash(
            _(
                "%(name)s is disabled. Its data and rules are kept; its events are refused and its rules do not fire.",
                name=name,
            ),
            "success",
        )
    return redirect(url_for(".index"))
