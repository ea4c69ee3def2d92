"""``postwerk plugins new NAME``: a working plugin package to start from.

It has everything docs/plugins.md describes, small: a pyproject with the
entry point, one event with variables and samples, one role, German and
English default templates and a rule, an admin page on the base layout, a
table with its migration, its own German message catalogue, and a passing test that uses the kit
(core/testing.py). ``pip install -e`` it and it shows up in Postwerk.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import write_po

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


class ScaffoldError(ValueError):
    pass


FILES: dict[str, str] = {
    "pyproject.toml": """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "postwerk-$dash"
version = "0.1.0"
description = "$title for Postwerk"
requires-python = ">=3.11"
dependencies = ["postwerk"]

# How Postwerk finds the plugin: the entry point's name is the plugin's name.
[project.entry-points."postwerk.plugins"]
$name = "postwerk_$name.plugin:${klass}Plugin"

[tool.setuptools.packages.find]
include = ["postwerk_$name*"]

[tool.setuptools.package-data]
"postwerk_$name" = ["templates/postwerk_$name/*.html", "migrations/*.py", "translations/*/LC_MESSAGES/*.*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
""",
    "README.md": """\
# postwerk-$dash

A Postwerk plugin: the event `$event` with the placeholders
`{{ $name.title }}`, `{{ $name.contact.name }}`, `{{ $name.contact.email }}` and
`{{ $name.contact.language }}`, the recipient role `role:contact`, German and
English default templates, an (inactive) default rule, and an admin page under
Settings.

Into the installation where Postwerk runs (with `postwerk serve` running, in
another terminal after the `export` line serve printed):

    pip install -e .             # serve migrates (table ${name}_item) and takes it up within seconds;
                                 # without serve: postwerk db upgrade
    postwerk plugins enable demo $name --activate-rules
    postwerk events emit demo $event --payload '$payload'
    pytest                       # the tests use Postwerk's kit (fixture `postwerk`)

The mail is on serve's caught-mail page. Emit the event from your code with
`core.api.emit(tenant_id, "$event", payload)`, or from another system with
`POST /api/v1/events`.

The German words are in `postwerk_$name/translations/de/LC_MESSAGES/postwerk_$name.po`
(the event's label, the role, the placeholders, the rule's name and the page's words
marked with `_()`). After changing it, compile it (Postwerk loads only the `.mo`):

    pybabel compile -d postwerk_$name/translations -D postwerk_$name
""",
    "postwerk_$name/__init__.py": '''\
"""$title: a Postwerk plugin."""
''',
    "postwerk_$name/plugin.py": '''\
"""The plugin class: what $name offers Postwerk."""
from __future__ import annotations

from pathlib import Path

from core.api import (EventSpec, MenuEntry, Plugin, Recipient, Role, RuleSpec, TemplateSpec, Variable,
                      branded_html, hookimpl)

from . import models  # noqa: F401  (the table is known before migrations run)

NAME = "$name"

$event = EventSpec(
    key="$event", label="$title: new entry",
    variables=(
        Variable("$name.title", "title of the entry", "Erster Eintrag"),
        Variable("$name.contact.name", "name of the contact person", "Erika Mustermann"),
        Variable("$name.contact.email", "e-mail address of the contact person", "erika@example.org"),
        Variable("$name.contact.language", "language of the contact person (de or en)", "de"),
    ),
    roles=(Role("contact", "the entry's contact person"),),
)

TEMPLATES = {
    "de": ("Neuer Eintrag: {{ $name.title }}",
           "<p>Hallo {{ $name.contact.name }},</p><p>der Eintrag <strong>{{ $name.title }}</strong> wurde angelegt.</p>"),
    "en": ("New entry: {{ $name.title }}",
           "<p>Hello {{ $name.contact.name }},</p><p>the entry <strong>{{ $name.title }}</strong> was created.</p>"),
}


class ${klass}Plugin(Plugin):
    """$title."""

    migrations = str(Path(__file__).parent / "migrations")
    # Its own message catalogue (Babel domain "postwerk_$name"): the German of
    # the labels above and of the page's words.
    translations = str(Path(__file__).parent / "translations")

    @hookimpl
    def postwerk_register_events(self):
        return [$event]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        if event != "$event":
            return None
        return {"$name": payload["$name"]}

    @hookimpl
    def postwerk_resolve_recipients(self, tenant, event, role, payload):
        if event != "$event" or role != "contact":
            return None
        contact = payload["$name"]["contact"]
        return [Recipient(address=contact["email"], name=contact["name"] or "", language=contact["language"] or "")]

    @hookimpl
    def postwerk_default_templates(self):
        return [TemplateSpec("${name}_created", language, subject, branded_html(body))
                for language, (subject, body) in TEMPLATES.items()]

    @hookimpl
    def postwerk_default_rules(self):
        return [RuleSpec("$event", "role:contact", "${name}_created", "Tell the contact about a new entry")]

    @hookimpl
    def postwerk_blueprints(self):
        from .views import bp

        return [bp]

    @hookimpl
    def postwerk_admin_menu(self):
        return [MenuEntry("$title", f"{NAME}.index", area="settings")]
''',
    "postwerk_$name/models.py": '''\
"""The plugin's own table (its Alembic branch is migrations/)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.api import UTCDateTime, db, utcnow


class Item(db.Model):
    __tablename__ = "${name}_item"
    __table_args__ = {"info": {"plugin": "$name"}}

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
''',
    "postwerk_$name/views.py": '''\
"""The admin page: the entries of the tenant, and a form that adds one and emits $event
to its contact person."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.api import (AddressError, admin_required, check_address, current_tenant_id, db, emit,
                      plugin_enabled_required)

from .models import Item

bp = Blueprint("$name", __name__, url_prefix="/settings/admin/$name", template_folder="templates")


@bp.route("/", methods=["GET", "POST"])
@plugin_enabled_required("$name")
@admin_required
def index():
    if request.method == "POST" and request.form.get("title", "").strip():
        try:
            email = check_address(request.form.get("email", ""), field="contact")
        except AddressError as exc:
            flash(str(exc), "error")
            return redirect(url_for(".index"))
        item = Item(tenant_id=current_tenant_id(), title=request.form["title"].strip()[:200])
        db.session.add(item)
        emit(current_tenant_id(), "$event", {"$name": {
            "title": item.title, "contact": {"name": "", "email": email, "language": ""}}},
            actor_user_id=current_user.id)
        db.session.commit()
        flash(_("%(title)s added", title=item.title), "success")
        return redirect(url_for(".index"))
    items = db.session.execute(db.select(Item).where(Item.tenant_id == current_tenant_id())
                               .order_by(Item.id.desc())).scalars().all()
    return render_template("postwerk_$name/index.html", items=items)
''',
    "postwerk_$name/templates/postwerk_$name/index.html": """\
{% extends "base.html" %}
{% block title %}$title{% endblock %}
{% block content %}
<h1>$title</h1>
<section class="card">
  <form method="post" class="row">
    <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
    <label>{{ _("Title") }} <input name="title" required maxlength="200"></label>
    <label>{{ _("Contact e-mail") }} <input name="email" type="email" required></label>
    <div><button type="submit">{{ _("Add and send %(event)s", event="$event") }}</button></div>
  </form>
  <ul id="${name}-items">
  {% for item in items %}<li>{{ item.title }}</li>{% else %}<li class="muted">{{ _("No entries yet.") }}</li>{% endfor %}
  </ul>
</section>
{% endblock %}
""",
    "postwerk_$name/migrations/${name}0001_tables.py": '''\
"""$name tables

Revision ID: ${name}0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "${name}0001"
down_revision = None
branch_labels = ("$name",)
depends_on = "c0001"


def upgrade():
    op.create_table(
        "${name}_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"], name=op.f("fk_${name}_item_tenant_id_tenant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_${name}_item")),
    )
    op.create_index(op.f("ix_${name}_item_tenant_id"), "${name}_item", ["tenant_id"])


def downgrade():
    op.drop_index(op.f("ix_${name}_item_tenant_id"), table_name="${name}_item")
    op.drop_table("${name}_item")
''',
    "tests/conftest.py": '''\
import pytest

from postwerk_$name.plugin import ${klass}Plugin


@pytest.fixture
def postwerk_plugins():
    """The plugins Postwerk's kit registers and enables for each test."""
    return {"$name": ${klass}Plugin}
''',
    "tests/test_plugin.py": '''\
"""Tests with Postwerk's kit: the fixture `postwerk` (see Postwerk's docs/plugins.md)."""


def test_the_templates_render_in_both_languages(postwerk):
    assert postwerk.render("$event", language="de").subject == "Neuer Eintrag: Erster Eintrag"
    assert postwerk.render("$event", language="en").subject == "New entry: Erster Eintrag"


def test_the_admin_page_speaks_german_and_english(postwerk):
    german = postwerk.client.get("/settings/admin/$name/", headers={"Accept-Language": "de"}).get_data(as_text=True)
    english = postwerk.client.get("/settings/admin/$name/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Noch keine Einträge." in german and "Kontakt-E-Mail" in german
    assert "No entries yet." in english and "Contact e-mail" in english


def test_the_admin_page_adds_an_entry_and_the_contact_gets_mail(postwerk):
    page = postwerk.client.get("/settings/admin/$name/", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "No entries yet." in page.get_data(as_text=True)
    answer = postwerk.client.post("/settings/admin/$name/", data={"title": "Zweiter", "email": "max@example.org"})
    assert answer.status_code == 302
    [mail] = postwerk.deliver()
    assert mail.rcpt_tos == ["max@example.org"] and str(mail.message["Subject"]) == "Neuer Eintrag: Zweiter"


def test_emit_and_deliver_mails_the_contact(postwerk):
    [mail] = postwerk.emit_and_deliver("$event", {"$name": {
        "title": "Dritter", "contact": {"name": "Jane", "email": "jane@example.org", "language": "en"}}})
    assert mail.rcpt_tos == ["jane@example.org"] and str(mail.message["Subject"]) == "New entry: Dritter"
''',
}


# The plugin's German: its data words (which Postwerk looks up in the
# plugin's catalogue) and the page's words marked with _().
GERMAN: dict[str, str] = {
    "$title: new entry": "$title: neuer Eintrag",
    "title of the entry": "Titel des Eintrags",
    "name of the contact person": "Name der Kontaktperson",
    "e-mail address of the contact person": "E-Mail-Adresse der Kontaktperson",
    "language of the contact person (de or en)": "Sprache der Kontaktperson (de oder en)",
    "the entry's contact person": "die Kontaktperson des Eintrags",
    "Tell the contact about a new entry": "Kontaktperson über neuen Eintrag informieren",
    "Title": "Titel",
    "Contact e-mail": "Kontakt-E-Mail",
    "Add and send %(event)s": "Hinzufügen und %(event)s senden",
    "No entries yet.": "Noch keine Einträge.",
    "%(title)s added": "%(title)s hinzugefügt",
}


def _catalogue(directory: Path, name: str, values: dict[str, str]) -> list[Path]:
    """``translations/de/LC_MESSAGES/postwerk_NAME.po`` and its compiled
    ``.mo`` (Postwerk loads only the .mo; a plugin without it is set aside)."""
    catalog = Catalog(locale="de", project=f"postwerk-{values['dash']}", version="0.1.0", fuzzy=False)
    for english, german in GERMAN.items():
        catalog.add(Template(english).substitute(values), Template(german).substitute(values))
    folder = directory / f"postwerk_{name}" / "translations" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po, mo = folder / f"postwerk_{name}.po", folder / f"postwerk_{name}.mo"
    with po.open("wb") as f:
        write_po(f, catalog, omit_header=False, width=120)
    with mo.open("wb") as f:
        write_mo(f, catalog)
    return [po, mo]


def sample_payload(name: str) -> str:
    """The JSON payload of the scaffold's event, for the command line."""
    return json.dumps(
        {
            name: {
                "title": "Erster Eintrag",
                "contact": {"name": "Erika", "email": "erika@example.org", "language": "de"},
            }
        },
        ensure_ascii=False,
    )


def create(name: str, directory: Path) -> list[Path]:
    """Write the package for plugin ``name`` into ``directory`` (which must
    not exist yet); returns the files written."""
    if not NAME_PATTERN.match(name):
        raise ScaffoldError(
            f"{name!r} is not a plugin name: use 2-31 lower-case letters, digits and _, "
            "starting with a letter (it is the entry point's name and a Python package)"
        )
    if directory.exists():
        raise ScaffoldError(f"{directory} exists already")
    values = {
        "name": name,
        "dash": name.replace("_", "-"),
        "event": f"{name.upper()}_CREATED",
        "klass": "".join(part.title() for part in name.split("_")),
        "title": name.replace("_", " ").title(),
        "payload": sample_payload(name),
    }
    written = []
    for relative, text in FILES.items():
        path = directory / Template(relative).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values))
        written.append(path)
    return written + _catalogue(directory, name, values)
