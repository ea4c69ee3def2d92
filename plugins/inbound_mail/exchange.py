"""The access token an Exchange / Microsoft 365 mailbox logs in with.

A mailbox linked with "Link account" (core.api.oauth_start_link) holds a
refresh token: its access token is refreshed before it expires and a
rotated refresh token is stored at once (core.api.oauth_access_token). An
access token pasted by hand (the older way) is used as it is until it
stops working.
"""

from __future__ import annotations

from core.api import OAuthError, oauth_access_token


class NoToken(RuntimeError):
    """No usable token: the admin must link the account (again)."""


def lock_name(mailbox) -> str:
    return f"inbound-mailbox-{mailbox.id}"


def access_token(mailbox) -> str:
    if mailbox.oauth_refresh_token_encrypted:
        try:
            return oauth_access_token(mailbox.tenant_id, mailbox, lock_name=lock_name(mailbox))
        except OAuthError as exc:
            raise NoToken(str(exc)) from None
    token = mailbox.oauth_access_token
    if not token:
        raise NoToken("no OAuth access token stored for this Exchange mailbox: use 'Link account'")
    return token
