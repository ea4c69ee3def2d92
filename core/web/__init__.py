"""The web face of the core: log-in, the shell pages, plugin blueprints."""
from __future__ import annotations

from flask import Flask

from ..plugins import PluginRegistry


def register_web(app: Flask, registry: PluginRegistry) -> None:
    from .. import http_api
    from . import admin_lists, admin_plugins, admin_tokens, auth, home

    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    for blueprint in (admin_plugins.bp, admin_lists.bp, admin_tokens.bp, http_api.bp):
        app.register_blueprint(blueprint)
    from ..automate.views import bp as automate_bp

    app.register_blueprint(automate_bp)
    from . import oauth

    app.register_blueprint(oauth.bp)

    @app.context_processor
    def _menu():
        from .menu import menu_entries

        return {"postwerk_menu": menu_entries}

    for _, blueprints in registry.call_each("postwerk_blueprints"):
        for blueprint in blueprints or ():
            app.register_blueprint(blueprint)
