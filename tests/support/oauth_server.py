"""A small OAuth2 authorization server on loopback, for the XOAUTH2 tests.

Speaks the authorization-code flow with PKCE and the refresh-token grant at
the paths of Microsoft's identity platform (``/{tenant}/oauth2/v2.0/...``)
and of Google (``/o/oauth2/v2/auth``, ``/token``). The authorize endpoint
consents at once and redirects back with a code. Access tokens it issued can
be checked with :meth:`OAuthServer.valid` (hand it to the SMTP sink's
XOAUTH2 checker); refresh tokens rotate on every use, and a used one is
revoked, like Microsoft's and Google's rotating tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    user: str


@dataclass
class OAuthServer:
    client_id: str = "client-1"
    client_secret: str = "s3cret"
    user: str = "mailbox@acme.example"
    expires_in: int = 3600
    #: Answer every token request with this OAuth error (e.g. "invalid_grant").
    refuse: str | None = None
    codes: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user, expires)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    requests: list[dict] = field(default_factory=list)  # token endpoint forms

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> "OAuthServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                server._authorize(self)

            def do_POST(self):
                server._token(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def valid(self, user: str, token: str) -> bool:
        """The XOAUTH2 check: a token we issued, for this user, not expired."""
        with self._lock:
            entry = self.access.get(token)
        return entry is not None and entry[0] == user and entry[1] > time.time()

    def expire_access_tokens(self) -> None:
        with self._lock:
            self.access = {t: (u, 0.0) for t, (u, _) in self.access.items()}

    # -- endpoints ----------------------------------------------------------------
    def _authorize(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        if not (parsed.path.endswith("/oauth2/v2.0/authorize") or parsed.path == "/o/oauth2/v2/auth"):
            return self._reply(handler, 404, {"error": "not_found"})
        q = dict(urllib.parse.parse_qsl(parsed.query))
        if q.get("client_id") != self.client_id or q.get("code_challenge_method") != "S256":
            return self._reply(handler, 400, {"error": "invalid_request"})
        code = secrets.token_urlsafe(16)
        with self._lock:
            self.codes[code] = Grant(
                q["client_id"], q["redirect_uri"], q["code_challenge"], q.get("scope", ""), self.user
            )
        target = q["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
        handler.send_response(302)
        handler.send_header("Location", target)
        handler.end_headers()

    def _token(self, handler: BaseHTTPRequestHandler) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        if not (parsed.path.endswith("/oauth2/v2.0/token") or parsed.path == "/token"):
            return self._reply(handler, 404, {"error": "not_found"})
        length = int(handler.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(handler.rfile.read(length).decode()))
        with self._lock:
            self.requests.append(form)
        if self.refuse:
            return self._reply(handler, 400, {"error": self.refuse, "error_description": f"AADSTS70000: {self.refuse}"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return self._reply(handler, 401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                entry = self.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if entry is None or entry.redirect_uri != form.get("redirect_uri") or entry.challenge != challenge:
                    return self._reply(handler, 400, {"error": "invalid_grant"})
                user = entry.user
            elif grant == "refresh_token":
                user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
                if user is None:
                    return self._reply(
                        handler, 400, {"error": "invalid_grant", "error_description": "refresh token revoked"}
                    )
            else:
                return self._reply(handler, 400, {"error": "unsupported_grant_type"})
            access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            self.access[access] = (user, time.time() + self.expires_in)
            self.refresh_tokens[refresh] = user
        self._reply(
            handler,
            200,
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "scope": form.get("scope", ""),
            },
        )

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
