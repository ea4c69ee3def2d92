"""Every encrypted column, for key rotation.

An encrypted column is one whose attribute name ends in ``_encrypted``, in
any model of the core or of a plugin (every installed plugin's models are
imported at start-up). ``tests/test_security_keys.py`` lists them all and
refuses a secret-looking column that does not follow the convention.
"""

from __future__ import annotations

from .crypto import SecretError, rotate
from .extensions import db

SUFFIX = "_encrypted"


def encrypted_columns() -> list[tuple[type, str]]:
    """(model, attribute) of every encrypted column, sorted by table and name."""
    found = []
    for mapper in db.Model.registry.mappers:
        for prop in mapper.column_attrs:
            if prop.key.endswith(SUFFIX):
                found.append((mapper.class_, prop.key))
    return sorted(found, key=lambda pair: (pair[0].__tablename__, pair[1]))


def rotate_all() -> int:
    """Re-encrypt every stored secret with the first configured key; one commit."""
    count = 0
    for model, name in encrypted_columns():
        column = getattr(model, name)
        for row in db.session.execute(db.select(model).where(column.is_not(None))).scalars():
            try:
                setattr(row, name, rotate(getattr(row, name)))
            except Exception as exc:  # InvalidToken: name the place, keep nothing half-done
                db.session.rollback()
                raise SecretError(
                    f"{model.__tablename__}.{name} of row {db.inspect(row).identity} cannot be "
                    "decrypted with the configured keys; nothing was re-encrypted"
                ) from exc
            count += 1
    db.session.commit()
    return count
