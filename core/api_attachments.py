"""The HTTP API's ``attachments``: files as base64, or a reference by SHA-256
to a file the tenant stored before; checked where they enter (422 naming the
field, 413 over a size limit)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from flask import current_app

from . import attachments
from .extensions import db
from .models import AttachmentBlob
from .specs import MailAttachment

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class ApiAttachmentError(attachments.AttachmentError):
    def __init__(self, message: str, field: str, *, too_large: bool = False):
        super().__init__(message, too_large=too_large)
        self.field = field


def body_limit(base: int) -> int:
    """Bytes the request body may have: the JSON without files, plus the
    files' limit in base64 (4 bytes for 3), but never more than the web
    application reads at all (POSTWERK_MAX_CONTENT_LENGTH): larger files go
    by reference (sha256) or through emit() inside the installation."""
    wanted = base + (attachments.byte_limit() * 4 + 2) // 3 + 64 * 1024
    return max(base, min(wanted, int(current_app.config.get("MAX_CONTENT_LENGTH") or wanted)))


def parse(tenant_id: int, value, sent: dict[str, bytes] | None = None) -> list[MailAttachment]:
    """``[{"filename", "content_type", "content_base64" | "sha256"}]`` as files.

    ``sent``: the files of this request so far, by SHA-256 (the batch form,
    whose items may name a file an earlier item sent); the ones sent here
    are added to it."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiAttachmentError("'attachments' must be a list of objects", "attachments")
    if len(value) > attachments.MAX_ATTACHMENTS:
        raise ApiAttachmentError(
            f"{len(value)} attachments, more than the {attachments.MAX_ATTACHMENTS} one mail may carry",
            "attachments",
            too_large=True,
        )
    files, total = [], 0
    for index, item in enumerate(value):
        where = f"attachments[{index}]"
        if not isinstance(item, dict):
            raise ApiAttachmentError(
                f"{where} must be an object with filename, content_type and content_base64 or sha256", where
            )
        unknown = sorted(set(item) - {"filename", "content_type", "content_base64", "sha256"})
        if unknown:
            raise ApiAttachmentError(f"unknown field {unknown[0]!r} in {where}", f"{where}.{unknown[0]}")
        if ("content_base64" in item) == ("sha256" in item):
            raise ApiAttachmentError(
                f"{where} needs exactly one of content_base64 (the file) and sha256 (a file stored before)", where
            )
        for name in ("filename", "content_type"):
            if not isinstance(item.get(name), str):
                raise ApiAttachmentError(f"{where}.{name} is required (a string)", f"{where}.{name}")
        if "content_base64" in item:
            content = _decode(item["content_base64"], f"{where}.content_base64")
            if sent is not None:
                sent.setdefault(hashlib.sha256(content).hexdigest(), content)
        elif sent is not None and isinstance(item["sha256"], str) and item["sha256"].lower() in sent:
            content = sent[item["sha256"].lower()]
        else:
            content = _stored(tenant_id, item["sha256"], f"{where}.sha256")
        total += len(content)
        if total > attachments.byte_limit():
            raise ApiAttachmentError(
                f"the attachments have more than {attachments.byte_limit()} bytes together "
                "(POSTWERK_MAX_ATTACHMENT_BYTES)",
                "attachments",
                too_large=True,
            )
        try:
            files += attachments.check([MailAttachment(item["filename"], item["content_type"], content)])
        except attachments.AttachmentError as exc:
            raise ApiAttachmentError(str(exc).replace("attachment 1", where), where) from None
    return files


def _decode(value, field: str) -> bytes:
    if not isinstance(value, str):
        raise ApiAttachmentError(f"{field} must be a base64 string", field)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiAttachmentError(f"{field} is not valid base64", field) from None


def _stored(tenant_id: int, digest, field: str) -> bytes:
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise ApiAttachmentError(f"{field} must be 64 hexadecimal digits (SHA-256)", field)
    content = db.session.execute(
        db.select(AttachmentBlob.content).where(
            AttachmentBlob.tenant_id == tenant_id, AttachmentBlob.sha256 == digest.lower()
        )
    ).scalar()
    if content is None:
        raise ApiAttachmentError(
            f"{field}: no file with this SHA-256 is stored for this tenant; send it as content_base64 once", field
        )
    return content
