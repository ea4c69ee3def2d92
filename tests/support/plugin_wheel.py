"""A small third-party plugin package as a wheel, built by hand (no build
backend, no network), for the tests that ``pip install`` a plugin into the
running installation: one event with a rule and templates, a page, and --
when ``with_migration`` -- its own Alembic branch with one table."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile

PLUGIN = '''\
from pathlib import Path

from flask import Blueprint

from core.api import EventSpec, Plugin, RuleSpec, TemplateSpec, Variable, hookimpl

bp = Blueprint("hotplug", __name__, url_prefix="/hot")


@bp.get("/")
def index():
    return "the hot plugin is here"


HOT = EventSpec("HOT_EVENT", "Hot", variables=(Variable("hot.word", "a word", "warm"),))


class HotPlugin(Plugin):
    """Installed while Postwerk runs."""

    migrations = MIGRATIONS

    @hookimpl
    def postwerk_register_events(self):
        return [HOT]

    @hookimpl
    def postwerk_template_variables(self, tenant, event, payload):
        return {"hot": payload["hot"]} if event == "HOT_EVENT" else None

    @hookimpl
    def postwerk_default_templates(self):
        return [TemplateSpec("hot", lang, "Hot {{ hot.word }}", "<p>{{ hot.word }}</p>") for lang in ("de", "en")]

    @hookimpl
    def postwerk_default_rules(self):
        return [RuleSpec("HOT_EVENT", "address:hot@example.org", "hot", "Hot mail")]

    @hookimpl
    def postwerk_blueprints(self):
        return [bp]
'''

MIGRATION = '''\
"""hotplug tables"""
from alembic import op
import sqlalchemy as sa

revision = "hotplug0001"
down_revision = None
branch_labels = ("hotplug",)
depends_on = "c0001"


def upgrade():
    op.create_table("hotplug_note", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade():
    op.drop_table("hotplug_note")
'''


def plugin_wheel(directory, *, with_migration: bool = False) -> str:
    """The path of ``postwerk_hotplug-0.1-py3-none-any.whl`` in ``directory``
    (entry point ``hotplug``, event ``HOT_EVENT``, page ``/hot/``)."""
    migrations = 'str(Path(__file__).parent / "migrations")' if with_migration else "None"
    files = {
        "postwerk_hotplug/__init__.py": PLUGIN.replace("MIGRATIONS", migrations),
        "postwerk_hotplug-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: postwerk-hotplug\nVersion: 0.1\n",
        "postwerk_hotplug-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        "postwerk_hotplug-0.1.dist-info/entry_points.txt": "[postwerk.plugins]\nhotplug = postwerk_hotplug:HotPlugin\n",
    }
    if with_migration:
        files["postwerk_hotplug/migrations/hotplug0001_tables.py"] = MIGRATION
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("postwerk_hotplug-0.1.dist-info/RECORD,,")
    path = os.path.join(directory, "postwerk_hotplug-0.1-py3-none-any.whl")
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("postwerk_hotplug-0.1.dist-info/RECORD", "\n".join(record) + "\n")
    return path
