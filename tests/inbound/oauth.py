"""A Dovecot that accepts XOAUTH2, checking tokens with a local OAuth 2
introspection endpoint (RFC 7662) that the tests control: the same SASL
exchange Exchange Online does, without Microsoft."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from tests.support.dovecot import DovecotServer


class Introspection:
    """Tokens ``valid-USER`` are active for USER; everything else is not."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        #: A test may also accept the tokens a real token endpoint issued:
        #: a function token -> user name, or None for "not active".
        self.also = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                token = form.get("token", [""])[0]
                outer.seen.append(token)
                user = outer.also(token) if outer.also is not None else None
                if user is None and token.startswith("valid-"):
                    user = token.removeprefix("valid-")
                answer = {"active": True, "username": user} if user else {"active": False}
                body = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/introspect"

    def start(self) -> "Introspection":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class OAuthDovecot(DovecotServer):
    """DovecotServer plus an oauth2 passdb for the XOAUTH2 mechanism."""

    def __init__(self, workdir: Path, users: dict[str, str], introspection_url: str) -> None:
        super().__init__(workdir, users)
        self.introspection_url = introspection_url
        # Read by Dovecot's auth process, which cannot enter pytest's 0700 tmp.
        self._oauth_dir = Path(tempfile.mkdtemp(prefix="pwoa-"))
        self._oauth_dir.chmod(0o755)

    def _config(self) -> str:
        settings = self._oauth_dir / "oauth2.conf"
        settings.write_text(
            f"introspection_mode = post\nintrospection_url = {self.introspection_url}\n"
            "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
        )
        settings.chmod(0o644)
        config = super()._config()
        config = config.replace("auth_mechanisms = plain login", "auth_mechanisms = plain login xoauth2")
        return config.replace(
            "passdb {", f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2\n  args = {settings}\n}}\npassdb {{", 1
        )

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._oauth_dir, ignore_errors=True)
