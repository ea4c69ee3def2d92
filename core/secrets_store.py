"""Every encrypted column, for key rotation."""
from __future__ import annotations

from .crypto import rotate
from .extensions import db
from .models import MailSettings


def rotate_all() -> int:
    count = 0
    for settings in db.session.execute(db.select(MailSettings)).scalars():
        if settings.password_encrypted:
            settings.password_encrypted = rotate(settings.password_encrypted)
            count += 1
    db.session.commit()
    return count
