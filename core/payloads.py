"""Checking an event payload against the variables its event declares.

The declared variables (``ticket.reporter.email``) describe a nested object;
the sample value's type is the expected type. Used where payloads enter from
outside (the HTTP API), so a mistake is named where it is made.
"""

from __future__ import annotations

from typing import Any

from .specs import EventSpec
from .mail.mime import HeaderError, check_address

_TYPES: list[tuple[type, str, str]] = [
    # (python type of the sample, JSON Schema type, words for the error)
    (bool, "boolean", "true or false"),
    (int, "integer", "an integer"),
    (float, "number", "a number"),
    (str, "string", "a string"),
    (list, "array", "a list"),
    (dict, "object", "an object"),
]


class PayloadInvalid(ValueError):
    """``field`` is the dotted path of the offending value, e.g. ``payload.ticket.id``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def shape(spec: EventSpec) -> dict[str, Any]:
    """The variables as a tree: leaves are the sample values."""
    tree: dict[str, Any] = {}
    for var in spec.variables:
        node = tree
        *parents, leaf = var.name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _Leaf(var.sample, var.description)
    return tree


class _Leaf:
    def __init__(self, sample: Any, description: str):
        self.sample, self.description = sample, description


def _type_of(sample: Any) -> tuple[type, str, str] | None:
    for entry in _TYPES:
        if isinstance(sample, entry[0]):
            return entry
    return None  # a None sample accepts anything


def validate(spec: EventSpec, payload: Any, *, max_addresses: int | None = None) -> dict:
    """Return the payload if it matches, else raise :class:`PayloadInvalid`.

    Every declared variable must be present (``null`` is allowed: the
    placeholder is then empty); unknown keys and wrong types are refused.
    """
    if not isinstance(payload, dict):
        raise PayloadInvalid("payload", "must be a JSON object")
    addresses: list[str] = []
    _check(shape(spec), payload, "payload", spec.key, addresses)
    if max_addresses is not None and len(addresses) > max_addresses:
        raise PayloadInvalid(
            "payload",
            f"names {len(addresses)} e-mail addresses, more than the {max_addresses} "
            "one event may have (POSTWERK_MAX_RECIPIENTS_PER_EVENT)",
        )
    return payload


def _check(tree: dict, value: dict, path: str, event: str, addresses: list[str]) -> None:
    for key in value:
        if key not in tree:
            known = ", ".join(sorted(tree)) or "none"
            raise PayloadInvalid(f"{path}.{key}", f"{event} has no variable {key!r} here (known: {known})")
    for key, expected in tree.items():
        where = f"{path}.{key}"
        if key not in value:
            raise PayloadInvalid(where, "is required")
        given = value[key]
        if given is None:
            continue
        if isinstance(expected, dict):
            if not isinstance(given, dict):
                raise PayloadInvalid(where, "must be an object")
            _check(expected, given, where, event, addresses)
            continue
        _check_value(expected.sample, given, where, event, addresses)


def _check_value(sample: Any, given: Any, where: str, event: str, addresses: list[str]) -> None:
    """``given`` against the type of ``sample``; a list's items against the
    sample's first item (an object item: the same keys, each typed by the
    sample item's value)."""
    wanted = _type_of(sample)
    if wanted is None:
        return
    kind, _, words = wanted
    ok = isinstance(given, kind) and not (kind is not bool and isinstance(given, bool))
    if kind is float:
        ok = isinstance(given, (int, float)) and not isinstance(given, bool)
    if not ok:
        raise PayloadInvalid(where, f"must be {words}, not {type(given).__name__}")
    if kind is str and _holds_addresses(sample):
        addresses.extend(_check_addresses(given, where))
    if kind is list and sample:
        for i, item in enumerate(given):
            if item is None:
                raise PayloadInvalid(f"{where}[{i}]", "must not be null (leave the item out)")
            _check_value(sample[0], item, f"{where}[{i}]", event, addresses)
    elif kind is dict:
        for key in given:
            if key not in sample:
                known = ", ".join(sorted(sample)) or "none"
                raise PayloadInvalid(f"{where}.{key}", f"{event} has no variable {key!r} here (known: {known})")
        for key, value in sample.items():
            if key not in given:
                raise PayloadInvalid(f"{where}.{key}", "is required")
            if given[key] is not None:
                _check_value(value, given[key], f"{where}.{key}", event, addresses)


def _holds_addresses(sample: Any) -> bool:
    """A variable whose sample is an e-mail address (or a list of them) holds addresses."""
    if isinstance(sample, list):
        return bool(sample) and all(_holds_addresses(item) for item in sample)
    return isinstance(sample, str) and "@" in sample and " " not in sample.strip()


def _check_addresses(given: Any, where: str) -> list[str]:
    """Each address checked as mail will use it: the To header then never
    names an address the envelope does not (issue 16)."""
    items = given if isinstance(given, list) else [given]
    for index, item in enumerate(items):
        at = f"{where}[{index}]" if isinstance(given, list) else where
        if item is None or item == "":
            continue
        if not isinstance(item, str):
            raise PayloadInvalid(at, f"must be an e-mail address, not {type(item).__name__}")
        try:
            check_address(item)
        except HeaderError:
            raise PayloadInvalid(at, f"{item[:100]!r} is not an e-mail address") from None
    return [item for item in items if item]


def json_schema(spec: EventSpec) -> dict:
    """The payload of ``spec`` as JSON Schema (for the OpenAPI description)."""
    return _schema(shape(spec))


def _schema(tree: dict) -> dict:
    props = {}
    for key, node in tree.items():
        if isinstance(node, dict):
            props[key] = _schema(node)
            props[key]["type"] = ["object", "null"]
            continue
        wanted = _type_of(node.sample)
        entry: dict[str, Any] = {"description": node.description}
        if wanted is not None:
            entry["type"] = [wanted[1], "null"]
            if wanted[0] is list and node.sample:
                entry["items"] = _item_schema(node.sample[0])
        if node.sample is not None:
            entry["examples"] = [node.sample]
        props[key] = entry
    return {"type": "object", "properties": props, "required": sorted(tree), "additionalProperties": False}


def _item_schema(sample: Any) -> dict:
    wanted = _type_of(sample)
    if wanted is None:
        return {}
    entry: dict[str, Any] = {"type": wanted[1]}
    if wanted[0] is list and sample:
        entry["items"] = _item_schema(sample[0])
    elif wanted[0] is dict:
        entry.update(
            properties={k: _nullable(_item_schema(v)) for k, v in sample.items()},
            required=sorted(sample),
            additionalProperties=False,
        )
    return entry


def _nullable(entry: dict) -> dict:
    return dict(entry, type=[entry["type"], "null"]) if "type" in entry else entry
