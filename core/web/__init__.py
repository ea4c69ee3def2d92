"""The web face of the core: log-in, the shell pages, plugin blueprints."""

from __future__ import annotations

from flask import Flask

from ..plugins import PluginRegistry


def register_web(app: Flask, registry: PluginRegistry) -> None:
    # Late: every import of a `core.web.X` module runs this package first
    # (core.admin and core.api import core.web.auth); the views, the admin
    # and the HTTP API load when an app registers them, not with the package.
    from .. import http_api
    from ..admin.pages import register as register_admin
    from ..automate.views import bp as automate_bp
    from . import (
        admin_lists,
        admin_plugins,
        admin_tokens,
        auth,
        home,
        i18n,
        oauth,
        password_reset,
        sign_in_codes,
        unsubscribe,
    )

    i18n.init_app(app)
    auth.init_app(app)
    for blueprint in (
        auth.bp,
        home.bp,
        admin_plugins.bp,
        admin_lists.bp,
        admin_tokens.bp,
        http_api.bp,
        automate_bp,
        oauth.bp,
        password_reset.bp,
        sign_in_codes.bp,
        unsubscribe.bp,
    ):
        app.register_blueprint(blueprint)
    register_admin(app)

    @app.context_processor
    def _menu():
        from .menu import menu_entries  # late, as above

        return {"postwerk_menu": menu_entries}

    failures: list = []
    for name, blueprints in registry.call_each("postwerk_blueprints", failures=failures):
        try:
            for blueprint in blueprints or ():
                app.register_blueprint(blueprint)
        except Exception as exc:  # a clashing name or route: set the plugin aside, not the app
            registry.set_aside(name, f"its blueprints cannot be registered: {type(exc).__name__}: {exc}")
    for failure in failures:
        registry.set_aside(failure.plugin, f"postwerk_blueprints raised {failure.error}")
