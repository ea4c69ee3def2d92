"""The web face of the core: log-in, the shell pages, plugin blueprints."""
from __future__ import annotations

from flask import Flask

from ..plugins import PluginRegistry


def register_web(app: Flask, registry: PluginRegistry) -> None:
    from . import auth, home, i18n

    i18n.init_app(app)

    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    from ..admin import register as register_admin

    register_admin(app)
    @app.context_processor
    def _menu():
        from .menu import menu_entries

        return {"postwerk_menu": menu_entries}

    for _, blueprints in registry.call_each("postwerk_blueprints"):
        for blueprint in blueprints or ():
            app.register_blueprint(blueprint)
