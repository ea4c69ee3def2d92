"""The web face's guards that apply to every request (issue 16): body and
form limits before anything parses the body, and the security headers of
every response."""

from __future__ import annotations

from flask import Flask, abort, current_app, request


# No inline script anywhere: scripts are static files of the app. Inline
# styles stay allowed (templates and mail previews use them). Mail HTML is
# shown in sandboxed srcdoc frames, which inherit this policy.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    # First of all before-request functions: CSRF checking already parses the form.
    app.before_request_funcs.setdefault(None, []).insert(0, _limit_body)
    app.after_request(_headers)


def _headers(response):
    for name, value in HEADERS.items():
        # A page may set a stricter policy of its own (the queue's mail body).
        response.headers.setdefault(name, value)
    return response


def _limit_body() -> None:
    """413 for bodies over MAX_CONTENT_LENGTH (Werkzeug also cuts a chunked
    body off there while reading), and for URL-encoded forms larger than a
    form's memory cap or with more fields than MAX_FORM_PARTS: Werkzeug
    counts parts only in multipart bodies."""
    length = request.content_length
    config = current_app.config
    if length is not None and config.get("MAX_CONTENT_LENGTH") and length > config["MAX_CONTENT_LENGTH"]:
        abort(413)
    if request.mimetype == "application/x-www-form-urlencoded" and request.method in ("POST", "PUT", "PATCH"):
        limit = config.get("MAX_FORM_MEMORY_SIZE") or 500_000
        if length is not None and length > limit:
            abort(413)
        request.max_content_length = min(limit + 1, config.get("MAX_CONTENT_LENGTH") or limit + 1)
        body = request.get_data(cache=True)
        if len(body) > limit or body.count(b"&") >= (config.get("MAX_FORM_PARTS") or 1000):
            abort(413)
