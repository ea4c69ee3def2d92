"""The HTTP API other systems use to emit events: ``POST /api/v1/events``.

Authenticated by a per-tenant bearer token (no session, so no CSRF);
payloads are checked against the event's declared variables; an
``Idempotency-Key`` header makes a client's retry return the first event.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from flask import Blueprint, current_app, jsonify, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from . import api_tokens
from . import api_attachments
from .events import MAX_SEND_AHEAD, SendAtError, check_send_at, emit
from .extensions import csrf, db
from .idempotency import IDEMPOTENCY_DAYS, expire_idempotency_keys  # noqa: F401 (names kept here)
from .models import IdempotencyKey
from .models.message import Priority
from .models.types import utcnow
from .payloads import PayloadInvalid, json_schema, validate
from .plugins import registry
from .ratelimit import allow as rate_limit
from .models import Event
from .events import emit_many

bp = Blueprint("http_api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_BODY = 256 * 1024
# Files for every mail of the event (core.api_attachments).
ATTACHMENTS_SCHEMA = {
    "type": "array",
    "maxItems": 20,
    "description": "Files attached to every mail of the event: the bytes as content_base64, or sha256 (hex) of a "
    "file sent before. All together at most POSTWERK_MAX_ATTACHMENT_BYTES (413 past it).",
    "items": {
        "type": "object",
        "required": ["filename", "content_type"],
        "additionalProperties": False,
        "properties": {
            "filename": {"type": "string", "maxLength": 255},
            "content_type": {"type": "string", "examples": ["application/pdf"]},
            "content_base64": {"type": "string", "contentEncoding": "base64"},
            "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        },
    },
}
MAX_KEY = 200


def _error(status: int, message: str, field: str | None = None, **headers):
    body = {"error": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _no_constants(name: str):
    # NaN and Infinity are not JSON (PostgreSQL's json type refuses them).
    raise ValueError(f"{name} is not a JSON value")


def _token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return api_tokens.authenticate(token.strip())


def _authorised():
    """The request's API token, or the answer that refuses it: 401 without a
    valid token, 429 past the token's rate limit (both endpoints alike)."""
    token = _token()
    if token is None:
        return None, _error(
            401,
            "a valid API token is required: Authorization: Bearer <token>",
            **{"WWW-Authenticate": 'Bearer realm="postwerk"'},
        )
    if not rate_limit(f"api:{token.id}", limit=current_app.config["API_RATE_LIMIT"], window=60):
        return None, _error(
            429,
            f"more than {current_app.config['API_RATE_LIMIT']} requests a minute with this token",
            **{"Retry-After": "60"},
        )
    return token, None


def _json_body(limit: int):
    """The parsed JSON body, read to at most ``limit`` bytes, or the answer
    that refuses it (413, 415, 400)."""

    def too_large():
        return None, _error(413, f"the body is larger than {limit // 1024} kB")

    # Read at most this much, also from a chunked body (no Content-Length):
    # Werkzeug stops reading past it with 413 instead of buffering it all.
    request.max_content_length = limit + 1
    if request.content_length is not None and request.content_length > limit:
        return too_large()
    if not request.is_json:
        return None, _error(415, "send JSON with Content-Type: application/json")
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return too_large()
    if len(raw) > limit:
        return too_large()
    try:
        return json.loads(raw, parse_constant=_no_constants), None
    except RecursionError:
        return None, _error(400, "the body is nested too deeply")
    except ValueError as exc:
        return None, _error(400, f"the body is not valid JSON: {exc}")


@bp.post("/events")
def post_event():
    token, refused = _authorised()
    if refused is not None:
        return refused
    tenant_id = token.tenant_id
    body, refused = _json_body(api_attachments.body_limit(MAX_BODY))
    if refused is not None:
        return refused
    if not isinstance(body, dict):
        return _error(422, "the body must be a JSON object with 'event' and 'payload'")
    unknown = sorted(set(body) - {"event", "payload", "send_at", "priority", "attachments"})
    if unknown:
        return _error(
            422,
            f"unknown field {unknown[0]!r}; the body has 'event', 'payload' and optionally "
            "'send_at', 'priority' and 'attachments'",
            unknown[0],
        )
    # The body may be large only for its files: the rest keeps the old limit.
    if len(json.dumps(body.get("payload"))) > MAX_BODY:
        return _error(413, f"the payload is larger than {MAX_BODY // 1024} kB", "payload")
    try:
        send_at = _send_at(body.get("send_at"))
    except SendAtError as exc:
        return _error(422, str(exc), "send_at")
    try:
        priority = _priority(body.get("priority"))
    except ValueError as exc:
        return _error(422, str(exc), "priority")
    key = body.get("event")
    if not isinstance(key, str) or not key:
        return _error(422, "'event' is required: the key of an event, e.g. TICKET_CREATED", "event")
    reg = registry()
    if key in reg.refused:  # its plugin was set aside as broken at start-up
        owner = reg.refused[key]
        return _error(
            409, f"the plugin '{owner}' is broken ({reg.plugins[owner].broken}), so {key} is not accepted", "event"
        )
    if key not in reg.events:
        return _error(422, f"no installed plugin declares the event {key!r}", "event")
    spec, owner = reg.events[key]
    if owner not in reg.enabled_plugins(tenant_id):
        return _error(409, f"the plugin {owner!r} is disabled for this tenant, so {key} is not accepted", "event")
    if "payload" not in body:
        return _error(422, "'payload' is required", "payload")
    try:
        payload = validate(spec, body["payload"], max_addresses=current_app.config["MAX_RECIPIENTS_PER_EVENT"])
    except PayloadInvalid as exc:
        return _error(422, exc.message, exc.field)
    try:
        files = api_attachments.parse(tenant_id, body.get("attachments"))
    except api_attachments.ApiAttachmentError as exc:
        return _error(413 if exc.too_large else 422, str(exc), exc.field)

    idem_key = request.headers.get("Idempotency-Key", "").strip()
    if len(idem_key) > MAX_KEY:
        return _error(400, f"Idempotency-Key is longer than {MAX_KEY} characters", "Idempotency-Key")
    request_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    if idem_key:
        earlier = _earlier(tenant_id, idem_key, request_hash)
        if earlier is not None:
            return earlier
    token.last_used_at = utcnow()
    event = emit(tenant_id, key, payload, send_at=send_at, priority=priority, attachments=files)
    db.session.flush()
    if idem_key:
        db.session.add(IdempotencyKey(tenant_id=tenant_id, key=idem_key, request_hash=request_hash, event_id=event.id))
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent retry with the same key won the race: its event stands.
        db.session.rollback()
        earlier = _earlier(tenant_id, idem_key, request_hash)
        if earlier is not None:
            return earlier
        raise
    return _accepted(event.id, key, 202)


def _send_at(value) -> datetime | None:
    """The body's ``send_at``: an ISO 8601 time with a time zone, at most
    ``MAX_SEND_AHEAD`` ahead; null or absent sends at once."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SendAtError("send_at must be an ISO 8601 time with a time zone, e.g. 2026-12-24T09:00:00+01:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SendAtError(f"send_at {value[:40]!r} is not an ISO 8601 time, e.g. 2026-12-24T09:00:00+01:00") from None
    check_send_at(parsed)
    return parsed


def _priority(value) -> int | None:
    """The body's ``priority``: "system", "transactional" or "bulk"; null or
    absent lets each rule decide."""
    if value is None:
        return None
    names = {name: number for number, name in Priority.NAMES.items()}
    if not isinstance(value, str) or value not in names:
        raise ValueError("priority must be one of 'system', 'transactional', 'bulk' (or null: each rule's own)")
    return names[value]


def _earlier(tenant_id: int, key: str, request_hash: str):
    row = db.session.execute(
        db.select(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key == key)
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.request_hash != request_hash:
        return _error(422, "this Idempotency-Key was used with a different request body", "Idempotency-Key")
    event = db.session.get(Event, row.event_id)
    response = _accepted(row.event_id, event.key if event else "", 200)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _accepted(event_id: int, key: str, status: int):
    response = jsonify({"event_id": event_id, "event": key, "status": "accepted"})
    response.status_code = status
    return response


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


def openapi_document() -> dict:
    """OpenAPI 3.1, built from the events the installed plugins declare."""
    reg = registry()
    bodies = []
    for key in sorted(reg.events):
        spec, owner = reg.events[key]
        bodies.append(
            {
                "title": key,
                "description": f"{spec.label} (plugin {owner}). {spec.description}".strip(),
                "type": "object",
                "properties": {
                    "event": {"const": key},
                    "payload": json_schema(spec),
                    "send_at": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "Send the mail later: ISO 8601 with a time zone, at most "
                        f"{MAX_SEND_AHEAD.days} days ahead.",
                    },
                    "attachments": ATTACHMENTS_SCHEMA,
                    "priority": {
                        "enum": ["system", "transactional", "bulk", None],
                        "description": "Which mail of the tenant goes first; null: each rule's own priority.",
                    },
                },
                "required": ["event", "payload"],
                "additionalProperties": False,
            }
        )
    error = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
        "required": ["error"],
    }
    accepted = {
        "type": "object",
        "properties": {"event_id": {"type": "integer"}, "event": {"type": "string"}, "status": {"const": "accepted"}},
    }

    def err(text):
        return {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Postwerk events API",
            "version": "1",
            "description": "Emit events of a tenant from another system. Create a token on the admin's "
            "API tokens page; the token decides the tenant.",
        },
        "servers": [{"url": url_for("http_api.post_event", _external=True).rsplit("/events", 1)[0]}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": error, "Accepted": accepted, "EventRequest": {"oneOf": bodies}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/events": {
                "post": {
                    "operationId": "emitEvent",
                    "summary": "Emit an event for the token's tenant",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": MAX_KEY},
                            "description": "A retry with the same key and body returns the first event "
                            "(status 200) instead of emitting again.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventRequest"}}},
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted; mail follows",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                        },
                        "200": {
                            "description": "A retry: the event of the first request with this Idempotency-Key",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                        },
                        "400": err("Malformed JSON or header"),
                        "401": err("Missing, unknown or revoked token"),
                        "409": err("The event's plugin is disabled for this tenant, or broken"),
                        "413": err("Body too large"),
                        "415": err("Not JSON"),
                        "422": err("Validation failed; 'field' names the offending field, e.g. payload.ticket.id"),
                    },
                }
            }
        },
    }


# --- The batch form: many events of one kind in one request ---------------

MAX_BATCH_ITEMS = 1000
MAX_BATCH_BODY = 4 * 1024 * 1024


@bp.post("/events/batch")
def post_events_batch():
    """``{"event": KEY, "items": [{"payload": {...}, "idempotency_key": "..."}, ...]}``.

    Each item is checked like a single ``POST /events``; the answer (200)
    lists one result per item, in order: ``accepted`` (202's meaning),
    ``replayed`` (a retry of an earlier key: its event) or ``rejected`` with
    ``error`` and ``field``. A rejected item never keeps the others out;
    the accepted ones are written in one transaction by ``emit_many()``.
    """
    token, refused = _authorised()
    if refused is not None:
        return refused
    tenant_id = token.tenant_id
    # As for the single form: the files may make the body larger, by at most
    # one mail's worth of them (api_attachments.body_limit) ...
    body, refused = _json_body(api_attachments.body_limit(MAX_BATCH_BODY))
    if refused is not None:
        return refused
    if not isinstance(body, dict):
        return _error(422, "the body must be a JSON object with 'event' and 'items'")
    # ... the rest keeps the batch's own limit.
    if _without_files(body) > MAX_BATCH_BODY:
        return _error(413, f"the batch without its files is larger than {MAX_BATCH_BODY // 1024} kB", "items")
    unknown = sorted(set(body) - {"event", "items", "send_at", "priority"})
    if unknown:
        return _error(
            422,
            f"unknown field {unknown[0]!r}; the body has 'event', 'items' and optionally 'send_at' and 'priority'",
            unknown[0],
        )
    try:
        # For every item of the batch alike.
        send_at = _send_at(body.get("send_at"))
    except SendAtError as exc:
        return _error(422, str(exc), "send_at")
    try:
        priority = _priority(body.get("priority"))
    except ValueError as exc:
        return _error(422, str(exc), "priority")
    extra = {name: body[name] for name in ("send_at", "priority") if body.get(name) is not None}
    key = body.get("event")
    if not isinstance(key, str) or not key:
        return _error(422, "'event' is required: the key of an event, e.g. TICKET_CREATED", "event")
    reg = registry()
    if key not in reg.events:
        return _error(422, f"no installed plugin declares the event {key!r}", "event")
    spec, owner = reg.events[key]
    if owner not in reg.enabled_plugins(tenant_id):
        return _error(409, f"the plugin {owner!r} is disabled for this tenant, so {key} is not accepted", "event")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        return _error(422, '\'items\' is required: a list of {"payload": ..., "idempotency_key": ...}', "items")
    if len(items) > MAX_BATCH_ITEMS:
        return _error(413, f"a batch holds at most {MAX_BATCH_ITEMS} items", "items")
    token.last_used_at = utcnow()
    for _ in range(2):  # once more if a concurrent retry took one of the keys first
        results = _batch(tenant_id, key, spec, items, send_at=send_at, priority=priority, extra=extra)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            continue
        return jsonify({"event": key, "results": results})
    raise RuntimeError("the idempotency keys of this batch kept changing under it")


def _batch(
    tenant_id: int,
    key: str,
    spec,
    items: list,
    *,
    send_at: datetime | None = None,
    priority: int | None = None,
    extra: dict | None = None,
) -> list[dict]:
    results: list[dict] = [{}] * len(items)
    # (index, payload, idempotency key, request hash, files)
    checked: list[tuple[int, dict, str, str, list]] = []
    seen: dict[str, int] = {}
    sent: dict[str, bytes] = {}  # files of this batch by SHA-256: a later item may name one
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            results[index] = _rejected(index, "an item is an object with 'payload' (and 'idempotency_key')", where)
            continue
        unknown = sorted(set(item) - {"payload", "idempotency_key", "attachments"})
        if unknown:
            results[index] = _rejected(index, f"unknown field {unknown[0]!r}", f"{where}.{unknown[0]}")
            continue
        idem_key = item.get("idempotency_key") or ""
        if not isinstance(idem_key, str) or len(idem_key.strip()) > MAX_KEY:
            results[index] = _rejected(
                index, f"idempotency_key is a string of at most {MAX_KEY} characters", f"{where}.idempotency_key"
            )
            continue
        idem_key = idem_key.strip()
        if idem_key and idem_key in seen:
            results[index] = _rejected(
                index, f"the idempotency_key of items[{seen[idem_key]}] again", f"{where}.idempotency_key"
            )
            continue
        if "payload" not in item:
            results[index] = _rejected(index, "'payload' is required", f"{where}.payload")
            continue
        if len(json.dumps(item["payload"])) > MAX_BODY:
            # The single form's limit (413 there) for each item's payload.
            results[index] = _rejected(
                index, f"the payload is larger than {MAX_BODY // 1024} kB", f"{where}.payload", code=413
            )
            continue
        try:
            payload = validate(spec, item["payload"])
        except PayloadInvalid as exc:
            results[index] = _rejected(index, exc.message, f"{where}.{exc.field}" if exc.field else where)
            continue
        try:
            files = api_attachments.parse(tenant_id, item.get("attachments"), sent)
        except api_attachments.ApiAttachmentError as exc:
            # The single form's answer (413 or 422, the field) for this item only.
            results[index] = _rejected(
                index,
                str(exc).replace("attachments", f"{where}.attachments", 1)
                if str(exc).startswith("attachments")
                else str(exc),
                f"{where}.{exc.field}",
                code=413 if exc.too_large else 422,
            )
            continue
        if idem_key:
            seen[idem_key] = index
        # The same hash as the single form's body, so a retry may switch form.
        # send_at, priority and the files count as part of each item's request.
        request_hash = hashlib.sha256(
            json.dumps(
                {
                    "event": key,
                    "payload": item["payload"],
                    **({"attachments": item["attachments"]} if item.get("attachments") is not None else {}),
                    **(extra or {}),
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()
        checked.append((index, payload, idem_key, request_hash, files))
    earlier = {}
    keys = [k for _, _, k, _, _ in checked if k]
    if keys:
        earlier = {
            row.key: row
            for row in db.session.execute(
                db.select(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key.in_(keys))
            ).scalars()
        }
    fresh = []
    for index, payload, idem_key, request_hash, files in checked:
        row = earlier.get(idem_key) if idem_key else None
        if row is None:
            fresh.append((index, payload, idem_key, request_hash, files))
        elif row.request_hash != request_hash:
            results[index] = _rejected(
                index, "this idempotency_key was used with a different payload", f"items[{index}].idempotency_key"
            )
        else:
            event = db.session.get(Event, row.event_id)
            results[index] = {
                "index": index,
                "status": "replayed",
                "event_id": row.event_id,
                "event": event.key if event else "",
            }
    emitted = (
        emit_many(
            tenant_id,
            key,
            [payload for _, payload, _, _, _ in fresh],
            send_at=send_at,
            priority=priority,
            attachments=[files for _, _, _, _, files in fresh],
        )
        if fresh
        else []
    )
    for (index, _, idem_key, request_hash, _), outcome in zip(fresh, emitted):
        if isinstance(outcome, Exception):  # checked above already; emit_many's own check
            results[index] = _rejected(index, str(outcome), f"items[{index}].payload")
            continue
        results[index] = {"index": index, "status": "accepted", "event_id": outcome.id, "event": key}
        if idem_key:
            db.session.add(
                IdempotencyKey(tenant_id=tenant_id, key=idem_key, request_hash=request_hash, event_id=outcome.id)
            )
    return results


def _rejected(index: int, message: str, field: str, *, code: int = 422) -> dict:
    """A refused item: ``code`` is the status the single form answers with
    (413 for a payload or files over a limit, else 422)."""
    return {"index": index, "status": "rejected", "error": message, "field": field, "code": code}


def _without_files(body: dict) -> int:
    """The size of a batch's JSON without the files' base64."""
    items = body.get("items")
    if not isinstance(items, list):
        return len(json.dumps(body))
    rest = [{k: v for k, v in item.items() if k != "attachments"} if isinstance(item, dict) else item for item in items]
    return len(json.dumps(dict(body, items=rest)))
