"""The UI language: the user's own setting, else the browser's preference."""
from __future__ import annotations

from pathlib import Path

from flask import request
from flask_login import current_user

LANGUAGES = ("de", "en")
# Compiled catalogues (.mo) are committed next to their .po sources, so a
# checkout runs without a build step; `pybabel compile -d core/translations`
# refreshes them after editing a .po file.
TRANSLATIONS = str(Path(__file__).resolve().parent.parent / "translations")


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return request.accept_languages.best_match(LANGUAGES) or "en"


def init_app(app) -> None:
    from flask_babel import get_locale, refresh

    app.jinja_env.globals["get_locale"] = get_locale
    # Flask-Babel caches the locale on ``g``; a request inside an already
    # pushed app context (tests, embedding) must choose again.
    app.before_request(refresh)
