"""Contracts: create, edit, mark signed, terminate. Each step that concerns
both parties emits its event in the caller's transaction (the caller commits)."""

from __future__ import annotations

import re
from datetime import date

from core.api import AddressError, check_address, db, emit, utcnow

from .models import PARTIES, Contract

_MONEY = re.compile(r"^\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*(?:€|EUR)?\s*$")


class ContractError(ValueError):
    """A change to a contract is refused; ``str()`` is meant for the user."""


class ContractNotFound(LookupError):
    pass


def parse_rent(value) -> int:
    """'850', '850.5', '850,50 €' -> cents."""
    if isinstance(value, int):
        return value * 100
    match = _MONEY.match(str(value or ""))
    if not match:
        raise ContractError(f"the rent {value!r} is not an amount like 850.00")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def get_contract(tenant_id: int, contract_id: int) -> Contract:
    row = db.session.execute(
        db.select(Contract).where(Contract.tenant_id == tenant_id, Contract.id == contract_id)
    ).scalar_one_or_none()
    if row is None:
        raise ContractNotFound(f"no contract {contract_id}")
    return row


def _apply(contract: Contract, fields: dict) -> None:
    for role in PARTIES:
        if f"{role}_email" in fields:
            try:
                fields[f"{role}_email"] = check_address(fields[f"{role}_email"].strip(), field=f"{role} e-mail")
            except AddressError as exc:
                raise ContractError(str(exc)) from exc
        if fields.get(f"{role}_language", "de") not in ("de", "en"):
            raise ContractError(f"the {role}'s language must be de or en")
    if "rent" in fields:
        fields["rent_cents"] = parse_rent(fields.pop("rent"))
    allowed = {c.key for c in Contract.__table__.columns} - {
        "id",
        "tenant_id",
        "status",
        "signed_at",
        "terminated_at",
        "created_at",
        "updated_at",
    }
    for key, value in fields.items():
        if key not in allowed:
            raise ContractError(f"unknown contract field {key!r}")
        setattr(contract, key, value.strip() if isinstance(value, str) else value)
    if not (contract.number or "").strip():
        raise ContractError("a contract needs a number")
    if contract.end_date and contract.start_date and contract.end_date < contract.start_date:
        raise ContractError("the contract cannot end before it starts")


def _number_free(tenant_id: int, number: str, contract_id: int | None) -> None:
    clash = db.session.execute(
        db.select(Contract.id).where(Contract.tenant_id == tenant_id, Contract.number == number.strip())
    ).scalar()
    if clash is not None and clash != contract_id:
        raise ContractError(f"there is already a contract numbered {number!r}")


def create_contract(tenant_id: int, *, actor_user_id: int | None = None, **fields) -> Contract:
    """Create a draft contract and emit CONTRACT_CREATED."""
    _number_free(tenant_id, fields.get("number", ""), None)
    contract = Contract(tenant_id=tenant_id, status="draft", notes="", termination_reason="")
    _apply(contract, dict(fields))
    db.session.add(contract)
    db.session.flush()
    emit(tenant_id, "CONTRACT_CREATED", contract.snapshot(), actor_user_id=actor_user_id)
    return contract


def update_contract(tenant_id: int, contract_id: int, **fields) -> Contract:
    """Edit a contract that is not terminated (emits nothing: no party is told)."""
    contract = get_contract(tenant_id, contract_id)
    if contract.status == "terminated":
        raise ContractError("a terminated contract cannot be edited")
    if "number" in fields:
        _number_free(tenant_id, fields["number"], contract.id)
    _apply(contract, dict(fields))
    return contract


def sign(tenant_id: int, contract_id: int, *, actor_user_id: int | None = None) -> Contract:
    """Mark a draft as signed by both parties and emit CONTRACT_SIGNED."""
    contract = get_contract(tenant_id, contract_id)
    if contract.status != "draft":
        raise ContractError(f"only a draft can be signed; this contract is {contract.status}")
    contract.status = "signed"
    contract.signed_at = utcnow()
    emit(tenant_id, "CONTRACT_SIGNED", contract.snapshot(), actor_user_id=actor_user_id)
    return contract


def terminate(
    tenant_id: int, contract_id: int, *, end_date: date, reason: str = "", actor_user_id: int | None = None
) -> Contract:
    """Terminate a signed contract as of ``end_date`` and emit CONTRACT_TERMINATED."""
    contract = get_contract(tenant_id, contract_id)
    if contract.status != "signed":
        raise ContractError(f"only a signed contract can be terminated; this contract is {contract.status}")
    if end_date < contract.start_date:
        raise ContractError("the contract cannot end before it starts")
    contract.status = "terminated"
    contract.end_date = end_date
    contract.terminated_at = utcnow()
    contract.termination_reason = (reason or "").strip()
    emit(tenant_id, "CONTRACT_TERMINATED", contract.snapshot(), actor_user_id=actor_user_id)
    return contract
