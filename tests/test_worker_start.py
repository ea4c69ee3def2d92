"""What a worker loads before its first job (issue 15): the libraries only
some jobs or only the web and the CLI need stay out of a fresh worker
process until something uses them. The CPU time is bench.worker_start's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cryptography.fernet import Fernet

# Loaded on first use: PDF reports, DKIM signing, migrations.
NOT_AT_START = ("fpdf", "fontTools", "dkim", "dns.resolver", "flask_migrate", "alembic")

CHILD = """
import json, sys
import core.cli  # what `postwerk worker` loads
from core.app import create_app
from core.worker import make_worker
app = create_app()
make_worker(app, name="start-test")
print(json.dumps(sorted(sys.modules)))
"""


def test_a_fresh_worker_loads_no_pdf_dkim_or_alembic(tmp_path):
    env = {
        **os.environ,
        "POSTWERK_DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
        "POSTWERK_SECRET_KEY": "test",
        "POSTWERK_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, capture_output=True, text=True)
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "core.worker" in loaded and "rq" in loaded
    assert [name for name in NOT_AT_START if name in loaded] == []


def test_migrations_bind_flask_migrate_on_first_use(app):
    # The stand-in create_app leaves in app.extensions turns into
    # Flask-Migrate's own binding, with Postwerk's plugin branches.
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    assert type(app.extensions["migrate"]).__module__ == "flask_migrate"
    assert "core/migrations/versions" in config.get_main_option("version_locations")
