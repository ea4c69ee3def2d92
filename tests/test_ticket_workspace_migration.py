"""Migration t0004: tickets that existed before workspaces all land in a new
default workspace of their tenant; nothing is lost."""

from __future__ import annotations

from flask_migrate import upgrade
from sqlalchemy import text

from core.app import create_app
from core.extensions import db
from tests.conftest import base_config


def test_existing_tickets_move_into_a_default_workspace(tmp_path, redis_server):
    app = create_app(base_config(f"sqlite:///{tmp_path / 'old.sqlite3'}", redis_server.url))
    with app.app_context():
        upgrade(revision="heads")
        # Back to the ticket branch as it was before workspaces, with tickets in it.
        from flask_migrate import downgrade

        downgrade(revision="t0003")
        now = "2026-12-01 00:00:00"
        for tenant_id, slug, language in ((1, "acme", "de"), (2, "globex", "en"), (3, "empty", "de")):
            db.session.execute(
                text(
                    "INSERT INTO tenant (id, slug, name, language, colour, timezone, created_at) "
                    "VALUES (:id, :slug, :slug, :language, '#123456', 'Europe/Berlin', :now)"
                ),
                {"id": tenant_id, "slug": slug, "language": language, "now": now},
            )
        for n, tenant_id in enumerate((1, 1, 2), 1):
            db.session.execute(
                text(
                    "INSERT INTO ticket_ticket (id, tenant_id, title, description, status, "
                    "reporter_name, reporter_email, reporter_language, created_at) VALUES "
                    "(:id, :tenant, 'T', '', 'open', 'E', 'e@x.example', 'de', :now)"
                ),
                {"id": n, "tenant": tenant_id, "now": now},
            )
        db.session.commit()

        upgrade(revision="heads")

        workspaces = db.session.execute(
            text("SELECT tenant_id, name, is_default FROM ticket_workspace ORDER BY tenant_id")
        ).all()
        assert [tuple(w) for w in workspaces] == [(1, "Allgemein", 1), (2, "General", 1)]
        placed = db.session.execute(
            text(
                "SELECT t.id, w.tenant_id FROM ticket_ticket t JOIN ticket_workspace w "
                "ON w.id = t.workspace_id ORDER BY t.id"
            )
        ).all()
        assert [tuple(p) for p in placed] == [(1, 1), (2, 1), (3, 2)]
        db.session.remove()
        db.engine.dispose()
