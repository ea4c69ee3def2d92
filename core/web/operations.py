"""For the operator: liveness, readiness, metrics; and life behind a proxy.

``/healthz`` answers while the process can serve a request (liveness: restart
it when this fails). ``/readyz`` checks what sending mail needs -- the
database, Redis, a recent scheduler tick, at least one worker -- and answers
503 with the failing checks otherwise (readiness: take it out of the load
balancer, page someone). ``/metrics`` is Prometheus text, for the configured
addresses or the bearer token only.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from sqlalchemy import text

from .. import metrics
from ..extensions import csrf, db
from ..queueing import redis

log = logging.getLogger(__name__)
bp = Blueprint("operations", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"failed: {type(exc).__name__}"
        log.warning("readiness: database unreachable: %s", exc)
    finally:
        db.session.remove()
    try:
        redis().ping()
        checks["redis"] = "ok"
        age = metrics.last_tick_age()
        if age is None:
            checks["scheduler"] = "failed: no tick seen"
        elif age > metrics.SCHEDULER_STALE_SECONDS:
            checks["scheduler"] = f"failed: last tick {age:.0f} s ago"
        else:
            checks["scheduler"] = f"ok: last tick {age:.0f} s ago"
        workers = metrics.workers_seen()
        checks["workers"] = f"ok: {workers}" if workers else "failed: no worker seen"
    except Exception as exc:
        checks.setdefault("redis", f"failed: {type(exc).__name__}")
        checks.setdefault("scheduler", "unknown (no Redis)")
        checks.setdefault("workers", "unknown (no Redis)")
        log.warning("readiness: Redis unreachable: %s", exc)
    ready = all(value.startswith("ok") for value in checks.values())
    return jsonify(status="ok" if ready else "failed", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics_page():
    if not _metrics_allowed():
        abort(403)
    try:
        body = metrics.render()
    finally:
        db.session.remove()
    return Response(body, mimetype="text/plain; version=0.0.4; charset=utf-8")


def _metrics_allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in current_app.config.get("METRICS_ALLOW", ()))


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
    hops = app.config.get("PROXY_HOPS", 0)
    if hops:
        # Trust exactly this many proxies: the client address, scheme and host
        # they report become request.remote_addr, request.scheme and the host
        # of external URLs (OAuth redirect URIs, rate-limit buckets per client).
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    max_age = app.config.get("HSTS_SECONDS", 0)
    if max_age:

        @app.after_request
        def _hsts(response):
            # Browsers ignore it over plain HTTP; behind a TLS proxy ProxyFix
            # makes the request secure.
            if request.is_secure:
                response.headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
            return response
