"""The UI language: the user's own setting, else the browser's preference."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, has_request_context, redirect, request, url_for
from flask_login import current_user, login_required

from ..extensions import db
from . import words

LANGUAGES = ("de", "en")
# Compiled catalogues (.mo) are committed next to their .po sources, so a
# checkout runs without a build step; `pybabel compile -d core/translations`
# refreshes them after editing a .po file.
TRANSLATIONS = str(Path(__file__).resolve().parent.parent / "translations")


def select_locale() -> str:
    if not has_request_context():
        # Workers and the CLI: their texts go into logs and are English.
        return "en"
    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return request.accept_languages.best_match(LANGUAGES) or "en"


bp = Blueprint("i18n", __name__)


@bp.route("/language", methods=["POST"])
@login_required
def choose_language():
    """The user's own choice: "de", "en" or "" (follow the browser)."""
    language = request.form.get("language", "")
    if language not in ("", *LANGUAGES):
        abort(400)
    current_user.language = language
    db.session.commit()
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("home.index")
    return redirect(target)


def init_app(app) -> None:
    from flask_babel import get_locale, refresh

    app.jinja_env.globals["get_locale"] = get_locale
    # Flask-Babel caches the locale on ``g``; a request inside an already
    # pushed app context (tests, embedding) must choose again.
    app.before_request(refresh)
    app.register_blueprint(bp)
    words.init_app(app)
