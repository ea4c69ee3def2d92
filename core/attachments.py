"""Attachments of outgoing mail: checked where they enter, stored once per
tenant by content, referenced by events and messages, pruned with the last
message that carries them.

Where files come from: ``emit(..., attachments=)`` (and the HTTP API's
``attachments``), and the ``postwerk_mail_attachments`` hook at expansion.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from flask import current_app
from sqlalchemy import delete, exists, insert
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import AttachmentBlob, EventAttachment, MessageAttachment
from .specs import MailAttachment

#: Files one mail may carry.
MAX_ATTACHMENTS = 20
#: Bytes all files of one mail may have together (POSTWERK_MAX_ATTACHMENT_BYTES overrides it).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")


class AttachmentError(ValueError):
    """A file is refused; ``str()`` says why, for the caller."""

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        #: Over a size limit (the HTTP API answers 413, else 422).
        self.too_large = too_large


# A reference to a stored file: (blob id, file name, content type).
Ref = tuple[int, str, str]


def byte_limit() -> int:
    return int(current_app.config.get("MAX_ATTACHMENT_BYTES") or MAX_ATTACHMENT_BYTES)


def check(files: Iterable[MailAttachment]) -> list[MailAttachment]:
    """The files, checked: a plain file name, a MIME type, bytes, and the
    limits of one mail. Raises AttachmentError naming the file."""
    files = list(files)
    if len(files) > MAX_ATTACHMENTS:
        raise AttachmentError(
            f"{len(files)} attachments, more than the {MAX_ATTACHMENTS} one mail may carry", too_large=True
        )
    total = 0
    for index, item in enumerate(files):
        if not isinstance(item, MailAttachment):
            raise AttachmentError(f"attachment {index + 1} is a {type(item).__name__}, not a MailAttachment")
        check_name(item.filename, index)
        if not isinstance(item.content_type, str) or not _CONTENT_TYPE.match(item.content_type.lower()):
            raise AttachmentError(
                f"attachment {item.filename!r}: {item.content_type!r} is not a MIME type like application/pdf"
            )
        if not isinstance(item.content, bytes):
            raise AttachmentError(f"attachment {item.filename!r}: the content must be bytes")
        total += len(item.content)
    if total > byte_limit():
        raise AttachmentError(
            f"the attachments have {total} bytes together, more than the {byte_limit()} one "
            "mail may carry (POSTWERK_MAX_ATTACHMENT_BYTES)",
            too_large=True,
        )
    return files


def check_name(filename, index: int = 0) -> str:
    if not isinstance(filename, str) or not filename.strip():
        raise AttachmentError(f"attachment {index + 1} has no file name")
    if len(filename) > 255 or any(c in filename for c in "\r\n\x00/\\") or filename in (".", ".."):
        raise AttachmentError(
            f"attachment {index + 1}: {filename[:80]!r} is not a plain file name "
            "(no path, no line breaks, at most 255 characters)"
        )
    return filename


def store(tenant_id: int, content: bytes) -> int:
    """The blob id for ``content``, inserting it only if the tenant has not
    stored the same bytes before. Runs in the caller's transaction."""
    digest = hashlib.sha256(content).hexdigest()
    found = _blob_id(tenant_id, digest)
    if found is not None:
        return found
    try:
        # A savepoint: a concurrent writer of the same bytes wins the unique
        # key, and this transaction goes on with its row.
        with db.session.begin_nested():
            return db.session.execute(
                insert(AttachmentBlob)
                .values(tenant_id=tenant_id, sha256=digest, size=len(content), content=content)
                .returning(AttachmentBlob.id)
            ).scalar_one()
    except IntegrityError:
        return _blob_id(tenant_id, digest)


def _blob_id(tenant_id: int, digest: str) -> int | None:
    return db.session.execute(
        db.select(AttachmentBlob.id).where(AttachmentBlob.tenant_id == tenant_id, AttachmentBlob.sha256 == digest)
    ).scalar()


def stored(tenant_id: int, digest: str) -> tuple[int, int] | None:
    """(blob id, size) of a file the tenant stored before, by its SHA-256 (hex)."""
    row = db.session.execute(
        db.select(AttachmentBlob.id, AttachmentBlob.size).where(
            AttachmentBlob.tenant_id == tenant_id, AttachmentBlob.sha256 == (digest or "").lower()
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def store_all(tenant_id: int, files: list[MailAttachment]) -> list[Ref]:
    return [(store(tenant_id, f.content), f.filename, f.content_type.lower()) for f in files]


def attach_to_event(event_id: int, refs: list[Ref]) -> None:
    if refs:
        db.session.execute(
            insert(EventAttachment),
            [
                {"event_id": event_id, "blob_id": blob, "filename": name, "content_type": kind}
                for blob, name, kind in refs
            ],
        )


def of_event(event_id: int) -> list[Ref]:
    return [
        tuple(row)
        for row in db.session.execute(
            db.select(EventAttachment.blob_id, EventAttachment.filename, EventAttachment.content_type)
            .where(EventAttachment.event_id == event_id)
            .order_by(EventAttachment.id)
        )
    ]


def of_events(event_ids: list[int]) -> dict[int, list[Ref]]:
    """The files given with each of these events (one query for a batch)."""
    found: dict[int, list[Ref]] = {}
    if event_ids:
        for event_id, blob, name, kind in db.session.execute(
            db.select(
                EventAttachment.event_id,
                EventAttachment.blob_id,
                EventAttachment.filename,
                EventAttachment.content_type,
            )
            .where(EventAttachment.event_id.in_(event_ids))
            .order_by(EventAttachment.id)
        ):
            found.setdefault(event_id, []).append((blob, name, kind))
    return found


def attach_to_messages(links: list[tuple[int, list[Ref]]]) -> None:
    """Write the references of new messages: [(message pk, refs)]."""
    rows = [
        {"message_pk": pk, "blob_id": blob, "filename": name, "content_type": kind}
        for pk, refs in links
        for blob, name, kind in refs
    ]
    if rows:
        db.session.execute(insert(MessageAttachment), rows)


def of_message(message_pk: int) -> list[Ref]:
    return [
        tuple(row)
        for row in db.session.execute(
            db.select(MessageAttachment.blob_id, MessageAttachment.filename, MessageAttachment.content_type)
            .where(MessageAttachment.message_pk == message_pk)
            .order_by(MessageAttachment.id)
        )
    ]


def listing(message_pk: int) -> list[dict]:
    """For the queue's body page: name, type and size of each file."""
    rows = db.session.execute(
        db.select(
            MessageAttachment.filename, MessageAttachment.content_type, AttachmentBlob.size, AttachmentBlob.sha256
        )
        .join(AttachmentBlob, AttachmentBlob.id == MessageAttachment.blob_id)
        .where(MessageAttachment.message_pk == message_pk)
        .order_by(MessageAttachment.id)
    )
    return [{"filename": f, "content_type": c, "size": s, "sha256": h} for f, c, s, h in rows]


def files_of(message_pk: int, conn=None) -> list[tuple[str, str, bytes]]:
    """(file name, content type, bytes) of a message, for building it."""
    query = (
        db.select(MessageAttachment.filename, MessageAttachment.content_type, AttachmentBlob.content)
        .join(AttachmentBlob, AttachmentBlob.id == MessageAttachment.blob_id)
        .where(MessageAttachment.message_pk == message_pk)
        .order_by(MessageAttachment.id)
    )
    return [tuple(row) for row in (conn or db.session).execute(query)]


def prune(tenant_id: int) -> int:
    """Delete the tenant's blobs that no message and no event refers to any
    more (after retention deleted messages); returns how many."""
    return db.session.execute(
        delete(AttachmentBlob)
        .where(
            AttachmentBlob.tenant_id == tenant_id,
            ~exists().where(MessageAttachment.blob_id == AttachmentBlob.id),
            ~exists().where(EventAttachment.blob_id == AttachmentBlob.id),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
