"""A folder of real mails through the real poller: every mail's outcome.

    python -m bench.corpus FOLDER [--protocol imap|pop3]

Each file of FOLDER (sorted by name) is put into a mailbox of a private
Dovecot, one at a time, and the mailbox is polled, with the real ticket
plugin handling the mail (SQLite in a temporary directory). A mail whose
handling raises is polled again until the poller keeps it aside, as it
would over the next minutes in production. Prints one line per mail
(file, outcome, what it became or why) and the counts; the last line is JSON.
Needs Dovecot (Debian's dovecot-imapd and dovecot-pop3d), nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections import Counter
from pathlib import Path

from cryptography.fernet import Fernet


def run(folder: Path, protocol: str = "imap") -> list[tuple[str, str, str]]:
    from flask_migrate import upgrade

    from core.app import create_app
    from core.extensions import db
    from plugins.inbound_mail.models import SeenMail
    from plugins.inbound_mail.poller import MAX_STUCK_ATTEMPTS, poll_mailbox
    from tests.helpers import make_tenant
    from tests.inbound.support import make_mailbox
    from tests.support.dovecot import DovecotServer

    files = sorted(p for p in folder.iterdir() if p.is_file())
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        dovecot = DovecotServer(Path(tmp) / "dovecot", {"corpus": "corpus-secret"}).start()
        try:
            app = create_app(
                {
                    "TESTING": True,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/corpus.sqlite3",
                    "SECRET_KEY": "corpus",
                    "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
                    "REDIS_URL": "redis://127.0.0.1:1/0",
                }
            )
            with app.app_context():
                upgrade(revision="heads")
                tenant = make_tenant("corpus", plugins=("ticket", "inbound_mail"))
                box = make_mailbox(tenant.id, dovecot, "corpus", protocol, password="corpus-secret")
                last = 0
                for path in files:
                    dovecot.deliver("corpus", path.read_bytes())
                    new = []
                    for _ in range(MAX_STUCK_ATTEMPTS + 1):
                        summary = poll_mailbox(box.id)
                        new = (
                            db.session.execute(
                                db.select(SeenMail)
                                .where(SeenMail.mailbox_id == box.id, SeenMail.id > last)
                                .order_by(SeenMail.id)
                            )
                            .scalars()
                            .all()
                        )
                        if new:
                            break
                    if not new:
                        rows.append((path.name, "blocked", summary))
                        continue
                    for seen in new:
                        last = max(last, seen.id)
                        rows.append((path.name, seen.outcome, seen.detail))
                db.engine.dispose()
        finally:
            dovecot.stop()
    return rows


def kind(outcome: str, detail: str) -> str:
    """ticket / comment / automatic / duplicate / kept aside: <reason>."""
    if outcome == "handled":
        return detail.split(" ", 1)[0]
    if outcome == "quarantined":
        return "kept aside: " + detail.split(":", 1)[0]
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--protocol", choices=("imap", "pop3"), default="imap")
    args = parser.parse_args()
    # Redis is not running: every ticket's wake-up would warn (the sweeper covers it).
    logging.disable(logging.WARNING)
    rows = run(args.folder, args.protocol)
    counts = Counter()
    for name, outcome, detail in rows:
        counts[kind(outcome, detail)] += 1
        print(f"{name:24} {outcome:12} {detail[:100]}")
    print()
    for key, value in sorted(counts.items()):
        print(f"{key:32} {value:>6}")
    print(json.dumps({"mails": len(rows), **dict(sorted(counts.items()))}))


if __name__ == "__main__":
    main()
