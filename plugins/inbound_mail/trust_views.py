"""Admin page: the tenant's trust policy (see trust.py)."""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from core.api import audit, current_tenant_id, db

from . import trust
from .models import TrustPolicy

#: The audit page's word for the kind of object this page changes (it looks
#: an unknown kind up in the catalogues, "_" read as a space).
AUDIT_KINDS = (_l("inbound trust policy"),)

# An authserv-id as receiving servers write it: a host name in practice
# (RFC 8601 allows any token; ';' or a space would end it in the header).
AUTHSERV_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?$")

# The form's words for TrustPolicy.accept_unauthenticated (None: the installation's).
_CHOICES = {"default": None, "yes": True, "no": False}


class TrustForm(FlaskForm):
    trusted_authserv_id = StringField(
        _l("Trusted Authentication-Results host (authserv-id of your receiving server; empty: the installation's)"),
        validators=[Optional(), Length(max=255)],
    )
    accept_unauthenticated = SelectField(
        _l("Mail comments from unauthenticated senders"),
        choices=[
            SelectChoice("default", _l("as the installation decides")),
            SelectChoice("no", _l('mark them "sender not verified"')),
            SelectChoice("yes", _l("count them as the sender's")),
        ],
    )

    def validate_trusted_authserv_id(self, field):
        value = (field.data or "").strip()
        if value and not AUTHSERV_ID.match(value):
            raise ValidationError(
                _(
                    "an authserv-id is a host name such as mx.example.org (letters, digits, "
                    "'.', '-', '_'), as your receiving server writes it"
                )
            )
        field.data = value.lower()


def _audited(row: TrustPolicy | None) -> dict[str, object]:
    """The policy's fields as the audit log shows them ("installation" for
    the installation's choice)."""
    accept = row.accept_unauthenticated if row is not None else None
    return {
        "trusted_authserv_id": row.trusted_authserv_id if row is not None else "",
        "accept_unauthenticated": "installation" if accept is None else accept,
    }


def register(bp, protected) -> None:
    @bp.route("/trust", methods=["GET", "POST"])
    @protected
    def trust_policy():
        tenant_id = current_tenant_id()
        row = trust.stored(tenant_id)
        form = TrustForm()
        if not form.is_submitted() and row is not None:
            form.trusted_authserv_id.data = row.trusted_authserv_id
            form.accept_unauthenticated.data = next(k for k, v in _CHOICES.items() if v is row.accept_unauthenticated)
        if form.validate_on_submit():
            before = _audited(row)
            if row is None:
                row = TrustPolicy(tenant_id=tenant_id)
                db.session.add(row)
            row.trusted_authserv_id = form.trusted_authserv_id.data or ""
            row.accept_unauthenticated = _CHOICES[form.accept_unauthenticated.data]
            after = _audited(row)
            if after != before:
                audit(
                    tenant_id,
                    "inbound_trust_policy.saved",
                    "inbound_trust_policy",
                    tenant_id,
                    changes={name: (before[name], after[name]) for name in after},
                )
            db.session.commit()
            flash(_("Trust policy saved."), "success")
            return redirect(url_for("inbound_mail.index"))
        return render_template(
            "inbound_mail/trust.html",
            form=form,
            effective=trust.policy(tenant_id),
            installation_id=trust.installation_authserv_id(),
            installation_accepts=trust.installation_accepts_unauthenticated(),
        )
