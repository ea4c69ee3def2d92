"""SMTP PIPELINING (RFC 2920): time per mail against a sink whose replies
arrive ``--delay`` later (1 ms: a server that is not on this machine).

The same Postwerk transport (core.mail.transport.SmtpTransport) sends the
same messages into a sink that offers PIPELINING and one that does not;
raw smtplib (which never pipelines) into the latter is the reference.

    python -m bench.pipelining [--n 500] [--delay 0.001]
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import time
from email.utils import make_msgid

from tests.support.smtp_sink_process import SinkProcess


def _mail(i: int) -> bytes:
    return (
        f"From: noreply@bench.example\r\nTo: r{i}@example.org\r\nSubject: Benachrichtigung {i}\r\n"
        f"Message-ID: {make_msgid(domain='bench.example')}\r\n\r\n"
        + "Hallo,\r\n\r\nein kurzer Text, wie ihn eine Benachrichtigung hat.\r\n"
        * 5
    ).encode()


def postwerk(port: int, messages: list[bytes]) -> float:
    from core.mail.transport import Security, SmtpConfig, SmtpTransport

    transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security=Security.NONE))
    transport.open()
    started = time.perf_counter()
    for i, data in enumerate(messages):
        transport.send("noreply@bench.example", [f"r{i}@example.org"], data)
    elapsed = time.perf_counter() - started
    transport.close()
    return elapsed * 1000 / len(messages)


def raw(port: int, messages: list[bytes]) -> float:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for i, data in enumerate(messages):
            smtp.sendmail("noreply@bench.example", [f"r{i}@example.org"], data)
        return (time.perf_counter() - started) * 1000 / len(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.001, help="seconds each reply is late")
    args = parser.parse_args()
    messages = [_mail(i) for i in range(args.n)]
    with (
        SinkProcess(pipelining=False, reply_delay=args.delay) as plain,
        SinkProcess(pipelining=True, reply_delay=args.delay) as offering,
    ):
        figures = {
            "raw_smtplib_ms": raw(plain.port, messages),
            "postwerk_without_pipelining_ms": postwerk(plain.port, messages),
            "postwerk_with_pipelining_ms": postwerk(offering.port, messages),
        }
    gain = figures["postwerk_without_pipelining_ms"] - figures["postwerk_with_pipelining_ms"]
    load = os.getloadavg()[0]
    print(f"{args.n} mails, replies {args.delay * 1000:.1f} ms late, load {load:.2f}")
    print(f"raw smtplib (no pipelining)      {figures['raw_smtplib_ms']:.3f} ms per mail")
    print(f"Postwerk, server without it      {figures['postwerk_without_pipelining_ms']:.3f} ms per mail")
    print(
        f"Postwerk, server with PIPELINING {figures['postwerk_with_pipelining_ms']:.3f} ms per mail "
        f"(gain {gain:.3f} ms per mail)"
    )
    print(
        json.dumps(
            {
                "n": args.n,
                "delay_s": args.delay,
                "load_average_1min": round(load, 2),
                **{k: round(v, 3) for k, v in figures.items()},
                "gain_ms": round(gain, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
