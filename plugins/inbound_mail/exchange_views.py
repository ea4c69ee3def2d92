"""Admin pages: "Link account" for an Exchange / Microsoft 365 mailbox, with
the tenant's OAuth app (core.api.oauth_start_link / oauth_finish_link).

Register ``.../settings/admin/inbound/oauth/callback`` (shown on the
mailbox page) as a redirect URI of the OAuth app, next to the sending one.
"""

from __future__ import annotations

import secrets

from flask import abort, flash, redirect, request, session, url_for
from flask_babel import gettext as _

from core.api import OAuthError, current_tenant_id, db, oauth_finish_link, oauth_start_link

from .models import Mailbox

_SESSION_KEY = "postwerk_inbound_oauth"


def register(bp, protected) -> None:
    @bp.get("/<int:mailbox_id>/oauth/link")
    @protected
    def oauth_link(mailbox_id: int):
        """Send the admin to the identity provider's sign-in for this mailbox."""
        mailbox = db.session.get(Mailbox, mailbox_id)
        if mailbox is None or mailbox.tenant_id != current_tenant_id():
            abort(404)
        redirect_uri = url_for("inbound_mail.oauth_callback", _external=True)
        try:
            link = oauth_start_link(mailbox.tenant_id, redirect_uri=redirect_uri, login_hint=mailbox.username)
        except OAuthError as exc:
            flash(_("Cannot link the account: %(error)s", error=exc), "error")
            return redirect(url_for("inbound_mail.edit", mailbox_id=mailbox.id))
        # The state ties the callback to this tenant, this mailbox and this attempt.
        session[_SESSION_KEY] = {
            "state": link.state,
            "verifier": link.verifier,
            "tenant_id": mailbox.tenant_id,
            "mailbox_id": mailbox.id,
            "redirect_uri": link.redirect_uri,
        }
        return redirect(link.url)

    @bp.get("/oauth/callback")
    @protected
    def oauth_callback():
        pending = session.pop(_SESSION_KEY, None)
        if (
            not pending
            or not secrets.compare_digest(pending["state"], request.args.get("state", ""))
            or pending["tenant_id"] != current_tenant_id()
        ):
            abort(400, "This sign-in answer does not belong to a link started here; start again.")
        mailbox = db.session.get(Mailbox, pending["mailbox_id"])
        if mailbox is None or mailbox.tenant_id != current_tenant_id():
            abort(404)
        back = url_for("inbound_mail.edit", mailbox_id=mailbox.id)
        if request.args.get("error"):
            reason = request.args.get("error_description") or request.args["error"]
            flash(_("The identity provider refused: %(error)s", error=reason), "error")
            return redirect(back)
        code = request.args.get("code", "")
        if not code:
            abort(400, "The identity provider answered without a code.")
        try:
            oauth_finish_link(
                mailbox.tenant_id,
                mailbox,
                code=code,
                redirect_uri=pending["redirect_uri"],
                verifier=pending["verifier"],
            )
        except OAuthError as exc:
            db.session.rollback()
            flash(_("Linking the account failed: %(error)s", error=exc), "error")
            return redirect(back)
        # A new link deserves a poll now, not after the backoff.
        mailbox.failures, mailbox.next_poll_at = 0, None
        db.session.commit()
        flash(_("The mailbox %(name)s is linked.", name=mailbox.name), "success")
        return redirect(back)
