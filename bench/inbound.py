"""Inbound mail: parse time of hostile mail under the caps, and polling speed
against a real Dovecot (IMAP and POP3), in one run.

    python -m bench.inbound [--n 5000] [--handler ticket|noop] [--profile 40]

``--profile N`` runs the IMAP poll under cProfile and prints the N functions
with the most own time, and the cumulative time of the poller's steps.

With ``--handler ticket`` (the default) the real ticket plugin turns every
mail into a ticket (with its TICKET_CREATED event in the same commit): the
figure a help desk sees. ``--handler noop`` measures the poller's own cost:
fetching, parsing, the claim and its commit (SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from core.api import InboundResult, hookimpl


class NoopPlugin:
    @hookimpl
    def postwerk_inbound_mail(self, tenant, mail):
        return InboundResult("noop", mail.message_id)


def parse_figures(rounds: int = 3) -> dict[str, float]:
    from plugins.inbound_mail import parsing
    from tests.inbound.test_safety import HOSTILE

    figures = {}
    for code, build in HOSTILE.items():
        raw = build()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            try:
                parsing.parse(raw, parsing.Limits())
            except parsing.Rejected:
                pass
            times.append(time.perf_counter() - start)
        figures[f"parse_{code}_ms"] = round(statistics.median(times) * 1000, 2)
    return figures


def _profiled(function, top: int):
    """Call ``function`` under cProfile; print where the time went."""
    import cProfile
    import io
    import pstats

    profile = cProfile.Profile()
    result = profile.runcall(function)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(
        r"intake|parsing|automatic|bounces|authentication|trust|senders|poller|connections|inbound|service|"
        r"workspaces|events|session.py.*\((commit|flush|execute)\)"
    )
    print(out.getvalue())
    return result


def poll_figures(n: int, handler: str = "ticket", profile: int = 0) -> dict[str, float]:
    from flask_migrate import upgrade

    from core.app import create_app
    from core.extensions import db
    from plugins.inbound_mail.poller import poll_mailbox
    from tests.helpers import make_tenant
    from tests.inbound.support import USERS, mail, make_mailbox
    from tests.support.dovecot import DovecotServer

    from .common import redis_url

    figures = {}
    # A real Redis, as in production: each ticket's event wakes the expander.
    with tempfile.TemporaryDirectory() as tmp, redis_url() as redis:
        users = {"imap": "bench-imap", "pop3": "bench-pop3"}
        dovecot = DovecotServer(Path(tmp) / "dovecot", {u: USERS["user0"] for u in users.values()}).start()
        try:
            # Distinct mails per mailbox: the same mail twice would be a duplicate.
            for user in users.values():
                for n_mail in range(n):
                    dovecot.deliver(
                        user,
                        mail(
                            f"Bench {n_mail}",
                            sender=f"mieter{n_mail}@mieter.example",
                            body="Die Heizung ist kalt.\n" * 40,
                        ),
                    )
            app = create_app(
                {
                    "TESTING": True,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3",
                    "SECRET_KEY": "bench",
                    "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
                    "REDIS_URL": redis,
                },
                extra_plugins={"noop": NoopPlugin()} if handler == "noop" else None,
            )
            with app.app_context():
                upgrade(revision="heads")
                tenant = make_tenant("bench", plugins=("inbound_mail", handler))
                for protocol in ("imap", "pop3"):
                    box = make_mailbox(tenant.id, dovecot, users[protocol], protocol, password=USERS["user0"])
                    start, cpu = time.perf_counter(), time.process_time()
                    if profile and protocol == "imap":
                        result = _profiled(lambda box=box: poll_mailbox(box.id), profile)
                    else:
                        result = poll_mailbox(box.id)
                    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
                    assert result == f"{n} handled", result
                    figures[f"{protocol}_mails_per_s"] = round(n / elapsed, 1)
                    # This process's CPU (poller, parsing, SQLite, the plugin):
                    # what the load of the other sessions inflates least.
                    figures[f"{protocol}_cpu_ms_per_mail"] = round(cpu * 1000 / n, 3)
                    figures[f"{protocol}_load_1min_after"] = os.getloadavg()[0]
                    start = time.perf_counter()
                    poll_mailbox(box.id)
                    figures[f"{protocol}_idle_poll_ms"] = round((time.perf_counter() - start) * 1000, 1)
                db.engine.dispose()
        finally:
            dovecot.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000, help="mails in the mailbox")
    parser.add_argument("--handler", choices=("ticket", "noop"), default="ticket")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile the IMAP poll and print the N most expensive functions",
    )
    args = parser.parse_args()
    load = os.getloadavg()
    figures = parse_figures()
    for key, value in figures.items():
        print(f"{key:32} {value:>10}")
    polled = poll_figures(args.n, args.handler, args.profile)
    for key, value in polled.items():
        print(f"{key:32} {value:>10}")
    figures.update(polled)
    figures["n"], figures["handler"] = args.n, args.handler
    figures["load_before"] = [round(x, 2) for x in load]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
