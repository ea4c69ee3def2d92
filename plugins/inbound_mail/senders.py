"""The admin's allowed-sender pattern, with bounded matching time.

Patterns are regular expressions written by admins: ``(a+)+$`` against a long
address backtracks for minutes in ``re``. The ``regex`` module stops after a
timeout; a pattern that times out counts as no match.
"""

from __future__ import annotations

import regex

MAX_PATTERN_LENGTH = 500
MATCH_TIMEOUT = 0.05  # seconds


class PatternError(ValueError):
    """The pattern cannot be used; the message says why."""


def validate(pattern: str) -> str:
    """Return the pattern stripped, or raise :class:`PatternError` (at save)."""
    pattern = pattern.strip()
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    try:
        regex.compile(pattern, regex.IGNORECASE)
    except regex.error as exc:
        raise PatternError(f"not a valid regular expression: {exc}") from None
    return pattern


def allowed(pattern: str, address: str) -> bool:
    """Whether ``address`` matches the pattern completely ("" allows all)."""
    if not pattern:
        return True
    if not address:
        return False
    try:
        return regex.fullmatch(pattern, address, regex.IGNORECASE, timeout=MATCH_TIMEOUT) is not None
    except TimeoutError:
        return False
    except regex.error:  # stored before validation existed: refuse rather than crash
        return False
