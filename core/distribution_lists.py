"""Named distribution lists of a tenant: fixed addresses rules reach as ``list:NAME``."""

from __future__ import annotations

import re

from .extensions import db
from .mail.mime import HeaderError, check_address
from .models import DistributionList

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_ADDRESSES = 500


class ListError(ValueError):
    """A list cannot be saved; ``str()`` is meant for the admin."""


def parse_addresses(text: str) -> list[str]:
    """Addresses separated by commas, semicolons or line breaks; each checked."""
    found: list[str] = []
    for raw in re.split(r"[,;\s]+", text or ""):
        if not raw:
            continue
        try:
            address = check_address(raw, field="address")
        except HeaderError as exc:
            raise ListError(str(exc)) from exc
        if address.lower() not in (a.lower() for a in found):
            found.append(address)
    if len(found) > MAX_ADDRESSES:
        raise ListError(f"a list holds at most {MAX_ADDRESSES} addresses")
    return found


def check_name(name: str) -> str:
    name = (name or "").strip().lower()
    if not NAME.match(name):
        raise ListError("a list's name uses a-z, 0-9, '.', '_' and '-' (up to 64 characters), e.g. office")
    return name


def get(tenant_id: int, name: str) -> DistributionList | None:
    return db.session.execute(
        db.select(DistributionList).where(
            DistributionList.tenant_id == tenant_id, DistributionList.name == name.strip().lower()
        )
    ).scalar_one_or_none()


def addresses(tenant_id: int, name: str) -> list[str]:
    """The addresses of a tenant's list, or [] when there is no such list."""
    found = get(tenant_id, name)
    return list(found.addresses) if found else []


def save(tenant_id: int, name: str, address_text: str, *, list_id: int | None = None) -> DistributionList:
    """Create or update a list (the caller commits)."""
    name = check_name(name)
    values = parse_addresses(address_text)
    if not values:
        raise ListError("a list needs at least one address")
    clash = get(tenant_id, name)
    if clash is not None and clash.id != list_id:
        raise ListError(f"there is already a list named {name!r}")
    if list_id is None:
        row = DistributionList(tenant_id=tenant_id, name=name, addresses=values)
        db.session.add(row)
    else:
        row = db.session.execute(
            db.select(DistributionList).where(DistributionList.tenant_id == tenant_id, DistributionList.id == list_id)
        ).scalar_one()
        row.name, row.addresses = name, values
    db.session.flush()
    return row
