"""The development mail catcher: an SMTP server on loopback that keeps the
last mails in memory and lists them on a small web page, so a newcomer sees
delivered mail without any mail account.

Never for production: it accepts anything from anyone who can reach it,
which is why it only ever binds to loopback.
"""
from __future__ import annotations

import collections
import html
import threading
from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from wsgiref.simple_server import WSGIRequestHandler, make_server

from aiosmtpd.controller import Controller

KEEP = 500


class CaughtMail:
    def __init__(self, number: int, envelope) -> None:
        self.number = number
        self.received = datetime.now(timezone.utc)
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.raw = envelope.original_content or envelope.content
        self.message = BytesParser(policy=policy.default).parsebytes(self.raw)


class Catcher:
    def __init__(self) -> None:
        self.mails: collections.deque[CaughtMail] = collections.deque(maxlen=KEEP)
        self._lock = threading.Lock()
        self._count = 0

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self._count += 1
            self.mails.appendleft(CaughtMail(self._count, envelope))
        return "250 OK caught"

    # -- the web page -------------------------------------------------------
    def wsgi(self, environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path.startswith("/mail/"):
            return self._one(path.rsplit("/", 1)[-1], start_response)
        with self._lock:
            mails = list(self.mails)
        rows = "".join(
            f"<tr><td><a href='/mail/{m.number}'>{m.number}</a></td><td>{m.received:%H:%M:%S}</td>"
            f"<td>{html.escape(', '.join(m.rcpt_tos))}</td><td>{html.escape(str(m.message['Subject'] or ''))}</td></tr>"
            for m in mails) or "<tr><td colspan=4>No mail caught yet.</td></tr>"
        return self._page(start_response, "Caught mail",
                          f"<table><tr><th>#</th><th>Time</th><th>To</th><th>Subject</th></tr>{rows}</table>")

    def _one(self, number: str, start_response):
        with self._lock:
            mail = next((m for m in self.mails if str(m.number) == number), None)
        if mail is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such mail"]
        body = mail.message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        headers = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                          for k, v in mail.message.items())
        return self._page(start_response, f"Mail {mail.number}",
                          f"<p><a href='/'>all mail</a></p><table>{headers}</table><pre>{html.escape(text)}</pre>")

    @staticmethod
    def _page(start_response, title: str, content: str):
        page = (f"<!doctype html><meta charset=utf-8><title>{title}</title>"
                "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330}"
                "table{border-collapse:collapse}td,th{padding:.3rem .6rem;border-bottom:1px solid #e4e7ec;"
                "text-align:left}pre{background:#f6f7f9;padding:1rem;white-space:pre-wrap}</style>"
                f"<h1>{title}</h1>{content}")
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page.encode()]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (stdlib's name)
        pass


def run(smtp_port: int, http_port: int, host: str = "127.0.0.1") -> None:
    catcher = Catcher()
    controller = Controller(catcher, hostname=host, port=smtp_port)
    controller.start()
    httpd = make_server(host, http_port, catcher.wsgi, handler_class=_QuietHandler)
    try:
        httpd.serve_forever()
    finally:
        controller.stop()
