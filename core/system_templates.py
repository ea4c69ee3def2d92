"""The templates of system mail (password reset, sign-in code), shipped in
German and English. A tenant's own version of a key (edited in the
template editor like any other) wins; without one these are used."""

from __future__ import annotations

from .layout import branded_html, branded_text
from .specs import TemplateSpec

PASSWORD_RESET = "system_password_reset"
SIGN_IN_CODE = "system_sign_in_code"

#: The placeholders each system template gets (besides ``tenant``, ``now``
#: and ``recipient``); the template editor checks against these.
VARIABLES: dict[str, list[str]] = {
    PASSWORD_RESET: ["tenant", "now", "user", "link", "minutes", "client"],
    SIGN_IN_CODE: ["tenant", "now", "user", "code", "minutes", "client"],
}

TEMPLATES: list[TemplateSpec] = [
    TemplateSpec(
        PASSWORD_RESET,
        "de",
        "Neues Passwort für {{ tenant.name }}",
        branded_html("""
<p>Hallo {{ user.name }},</p>
<p>jemand (hoffentlich Sie) hat ein neues Passwort für Ihr Konto bei {{ tenant.name }} angefordert.
Mit diesem Link legen Sie es fest; er gilt {{ minutes }} Minuten und nur einmal:</p>
<p><a href="{{ link }}">Neues Passwort festlegen</a></p>
<p>Wenn Sie das nicht angefordert haben, ignorieren Sie diese Mail: Ihr Passwort bleibt, wie es ist.</p>
"""),
        branded_text("""
Hallo {{ user.name }},

jemand (hoffentlich Sie) hat ein neues Passwort für Ihr Konto bei {{ tenant.name }} angefordert.
Mit diesem Link legen Sie es fest; er gilt {{ minutes }} Minuten und nur einmal:

{{ link }}

Wenn Sie das nicht angefordert haben, ignorieren Sie diese Mail: Ihr Passwort bleibt, wie es ist.
"""),
    ),
    TemplateSpec(
        PASSWORD_RESET,
        "en",
        "New password for {{ tenant.name }}",
        branded_html("""
<p>Hello {{ user.name }},</p>
<p>someone (hopefully you) asked for a new password for your account at {{ tenant.name }}.
This link sets it; it works for {{ minutes }} minutes and only once:</p>
<p><a href="{{ link }}">Set a new password</a></p>
<p>If you did not ask for it, ignore this mail: your password stays as it is.</p>
"""),
        branded_text("""
Hello {{ user.name }},

someone (hopefully you) asked for a new password for your account at {{ tenant.name }}.
This link sets it; it works for {{ minutes }} minutes and only once:

{{ link }}

If you did not ask for it, ignore this mail: your password stays as it is.
"""),
    ),
    TemplateSpec(
        SIGN_IN_CODE,
        "de",
        "Ihr Anmeldecode für {{ tenant.name }}: {{ code }}",
        branded_html("""
<p>Hallo {{ user.name }},</p>
<p>Ihr Anmeldecode lautet:</p>
<p style="font-size:24px;letter-spacing:4px"><strong>{{ code }}</strong></p>
<p>Er gilt {{ minutes }} Minuten und nur einmal. Wenn Sie sich nicht gerade anmelden, hat jemand Ihr
Passwort: ändern Sie es bitte.</p>
"""),
        branded_text("""
Hallo {{ user.name }},

Ihr Anmeldecode lautet: {{ code }}

Er gilt {{ minutes }} Minuten und nur einmal. Wenn Sie sich nicht gerade anmelden, hat jemand Ihr
Passwort: ändern Sie es bitte.
"""),
    ),
    TemplateSpec(
        SIGN_IN_CODE,
        "en",
        "Your sign-in code for {{ tenant.name }}: {{ code }}",
        branded_html("""
<p>Hello {{ user.name }},</p>
<p>your sign-in code is:</p>
<p style="font-size:24px;letter-spacing:4px"><strong>{{ code }}</strong></p>
<p>It works for {{ minutes }} minutes and only once. If you are not signing in right now, someone has
your password: please change it.</p>
"""),
        branded_text("""
Hello {{ user.name }},

your sign-in code is: {{ code }}

It works for {{ minutes }} minutes and only once. If you are not signing in right now, someone has
your password: please change it.
"""),
    ),
]
