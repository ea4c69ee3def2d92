"""The admin page's words in a chosen language.

The page's language is the admin's own, else the browser's, else the
tenant's (views.py); the texts themselves live in the core's gettext
catalogue (core/translations/de/LC_MESSAGES/messages.po) like every other
UI string: ``scripts/translations.py`` extracts ``t("...")`` and ``_t("...")``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import force_locale, gettext


def translator(language: str) -> Callable[[str], str]:
    """``t("Run now")`` in the given language (English when no German is known)."""

    def t(text: str) -> str:
        if not text:
            return text
        with force_locale(language):
            return gettext(text)

    return t
