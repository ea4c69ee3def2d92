"""The web face of the core: log-in, the shell pages, plugin blueprints."""
from __future__ import annotations

from flask import Flask

from ..plugins import PluginRegistry


def register_web(app: Flask, registry: PluginRegistry) -> None:
    from . import auth, home

    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    from . import oauth; app.register_blueprint(oauth.bp)  # noqa: E702 - issue 4: OAuth link, presets, notification log
    @app.context_processor
    def _menu():
        from .menu import menu_entries

        return {"postwerk_menu": menu_entries}

    for _, blueprints in registry.call_each("postwerk_blueprints"):
        for blueprint in blueprints or ():
            app.register_blueprint(blueprint)
