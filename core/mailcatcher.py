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
import urllib.parse
from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from wsgiref.simple_server import WSGIRequestHandler, make_server

from aiosmtpd.controller import Controller

KEEP = 500


class CaughtMail:
    def __init__(self, number: int, envelope) -> None:
        self.received = datetime.now(timezone.utc)
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.raw = envelope.original_content or envelope.content
        self.message = BytesParser(policy=policy.default).parsebytes(self.raw)
        # Known by its Message-ID, the same one the queue shows: no number of our own.
        self.message_id = str(self.message["Message-ID"] or "").strip().strip("<>") or f"no-message-id-{number}"
        self.key = urllib.parse.quote(self.message_id, safe="@.-_")

    def part(self, subtype: str) -> str:
        body = self.message.get_body((subtype,))
        try:
            return body.get_content() if body is not None else ""
        except (LookupError, ValueError):
            return ""


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
            key, _, view = path[len("/mail/") :].partition("/")
            return self._one(urllib.parse.unquote(key), view, start_response)
        with self._lock:
            mails = list(self.mails)
        rows = (
            "".join(
                f"<tr><td><a href='/mail/{m.key}'><code>{html.escape(m.message_id)}</code></a></td>"
                f"<td>{m.received:%H:%M:%S}</td><td>{html.escape(', '.join(m.rcpt_tos))}</td>"
                f"<td>{html.escape(str(m.message['Subject'] or ''))}</td></tr>"
                for m in mails
            )
            or "<tr><td colspan=4>No mail caught yet.</td></tr>"
        )
        return self._page(
            start_response,
            "Caught mail",
            f"<table><tr><th>Message-ID</th><th>Time (UTC)</th><th>To</th><th>Subject</th></tr>{rows}</table>",
        )

    def _one(self, message_id: str, view: str, start_response):
        with self._lock:
            mail = next((m for m in self.mails if m.message_id == message_id), None)
        if mail is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such mail"]
        if view == "source.eml":
            start_response(
                "200 OK", [("Content-Type", "message/rfc822"), ("Content-Disposition", "attachment; filename=mail.eml")]
            )
            return [mail.raw]
        text, body_html = mail.part("plain"), mail.part("html")
        headers = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in mail.message.items()
        )
        source = mail.raw.decode("utf-8", "replace")
        sections = [
            (
                "html",
                "HTML",
                f"<iframe sandbox='' title='HTML part' srcdoc=\"{html.escape(body_html)}\"></iframe>"
                if body_html
                else "<p>This mail has no HTML part.</p>",
            ),
            ("text", "Text", f"<pre>{html.escape(text)}</pre>" if text else "<p>This mail has no text part.</p>"),
            ("headers", "Headers", f"<table>{headers}</table>"),
            (
                "source",
                "Source",
                f"<p><a href='/mail/{mail.key}/source.eml'>download (.eml)</a></p><pre>{html.escape(source)}</pre>",
            ),
        ]
        nav = " · ".join(f"<a href='#{key}'>{label}</a>" for key, label, _ in sections)
        content = "".join(f"<section id='{key}'><h2>{label}</h2>{part}</section>" for key, label, part in sections)
        title = html.escape(str(mail.message["Subject"] or mail.message_id))
        return self._page(
            start_response,
            title,
            f"<p><a href='/'>all mail</a> · <code>{html.escape(mail.message_id)}</code></p>"
            f"<p>To {html.escape(', '.join(mail.rcpt_tos))}</p><nav>{nav}</nav>{content}",
        )

    @staticmethod
    def _page(start_response, title: str, content: str):
        page = (
            f"<!doctype html><meta charset=utf-8><title>{title}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2330}"
            "table{border-collapse:collapse}td,th{padding:.3rem .6rem;border-bottom:1px solid #e4e7ec;"
            "text-align:left}pre{background:#f6f7f9;padding:1rem;white-space:pre-wrap}"
            "iframe{width:100%;min-height:24rem;border:1px solid #e4e7ec}section{margin-top:1.5rem}</style>"
            f"<h1>{title}</h1>{content}"
        )
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
