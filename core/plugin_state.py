"""Enabling and disabling plugins per tenant (data, effective at once)."""

from __future__ import annotations

from flask_babel import gettext

from .extensions import db
from .models import PluginState, Rule, Template
from .notify import audit
from .plugins import PluginError, registry


def set_enabled(
    tenant_id: int, plugin: str, enabled: bool, *, actor: str = "system", activate_rules: bool = False
) -> None:
    """Enable or disable ``plugin`` for a tenant; the caller commits.

    Enabling copies the plugin's default templates (never over the tenant's
    own) and creates its default rules inactive -- switched on only when the
    admin asks for it (``activate_rules``, ``postwerk plugins enable
    --activate-rules``). Disabling keeps all data.
    """
    reg = registry()
    info = reg.plugins.get(plugin)
    if info is None:
        raise PluginError(f"no plugin named {plugin!r} is installed")
    if info.broken and enabled:
        raise PluginError(f"the plugin '{plugin}' is broken and cannot be enabled: {info.broken}")
    if info.essential and not enabled:
        raise PluginError(f"the plugin {plugin!r} is essential and cannot be disabled")
    state = db.session.get(PluginState, (tenant_id, plugin))
    if state is None:
        state = PluginState(tenant_id=tenant_id, plugin=plugin, enabled=enabled)
        db.session.add(state)
    state.enabled = enabled
    if enabled:
        _install_defaults(tenant_id, plugin, activate_rules)
    audit(tenant_id, actor, "plugin.enabled" if enabled else "plugin.disabled", "plugin", plugin)
    reg.forget_enabled(tenant_id)


def _install_defaults(tenant_id: int, plugin: str, activate_rules: bool = False) -> None:
    reg = registry()
    existing = set(
        db.session.execute(db.select(Template.key, Template.language).where(Template.tenant_id == tenant_id)).all()
    )
    for name, specs in reg.call_each("postwerk_default_templates"):
        if name != plugin:
            continue
        for spec in specs or ():
            if (spec.key, spec.language) not in existing:
                db.session.add(
                    Template(
                        tenant_id=tenant_id,
                        key=spec.key,
                        language=spec.language,
                        subject=spec.subject,
                        body_html=spec.body_html,
                        body_text=spec.body_text,
                    )
                )
    rules = {
        (rule.event, rule.recipient, rule.template_key): rule
        for rule in db.session.execute(db.select(Rule).where(Rule.tenant_id == tenant_id)).scalars()
    }
    for name, specs in reg.call_each("postwerk_default_rules"):
        if name != plugin:
            continue
        for spec in specs or ():
            existing_rule = rules.get((spec.event, spec.recipient, spec.template_key))
            if existing_rule is not None and activate_rules:
                existing_rule.active = True
            elif existing_rule is None:
                db.session.add(
                    Rule(
                        tenant_id=tenant_id,
                        name=spec.name,
                        event=spec.event,
                        recipient=spec.recipient,
                        template_key=spec.template_key,
                        active=activate_rules,
                    )
                )


def paused_events(tenant_id: int) -> dict[str, str]:
    """Event keys whose rules do not fire for this tenant because their
    plugin is disabled, with the reason to show next to such rules (the
    rules page and the plugins page use it). In the request's language;
    English outside a request."""
    reg = registry()
    enabled = reg.enabled_plugins(tenant_id)
    return {
        key: gettext("paused: the plugin '%(plugin)s' is disabled for this tenant", plugin=owner)
        for key, (_, owner) in reg.events.items()
        if owner not in enabled
    }
