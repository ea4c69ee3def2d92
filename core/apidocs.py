"""Render docs/api.md, the reference of ``core.api``, from the code.

``python -m core.apidocs > docs/api.md``; a test keeps the file equal to
this output and fails when a public name or a field of a spec lacks its
documentation (a docstring, or a ``#:`` comment above a field).
"""

from __future__ import annotations

import dataclasses
import inspect
import re

from . import api
from .mail.variables import CORE_VARIABLES

# Objects that are not classes or functions: their documentation lives here.
OBJECTS = {
    "ENTRY_POINT_GROUP": 'The entry-point group Postwerk loads plugins from: ``"postwerk.plugins"``.',
    "HOOK_API_VERSION": 'The version of the hooks, ``"MAJOR.MINOR"``: MINOR grows when a hook or an argument '
    "is added, MAJOR when one is removed or changes its meaning. Compare with "
    "``Plugin.requires_hook_api``.",
    "db": "Flask-SQLAlchemy's ``db``: your models derive from ``db.Model``; use ``db.session`` in the "
    "caller's transaction (the caller commits) and scope every query by ``tenant_id``.",
    "hookimpl": "The decorator that marks a hook implementation: ``@hookimpl``, or "
    "``@hookimpl(tryfirst=True)``, ``@hookimpl(wrapper=True)`` (pluggy's options).",
}

INTRO = """\
# core.api reference

Everything a plugin may import from the core, generated from the code by
`python -m core.apidocs` (a test keeps this file in step and fails when a
public name lacks its documentation). The hooks are in
[hooks.md](hooks.md), the walk-through in [plugins.md](plugins.md).
"""

OUTRO = f"""\
## Core placeholders

Every event's templates can read these besides the event's own variables:

| placeholder | meaning |
|-------------|---------|
{chr(10).join(f"| `{{{{ {name} }}}}` | {text} |" for name, text in CORE_VARIABLES.items())}

A `null` value renders empty, and so does every placeholder under a `null`
object. A name nobody provides fails the mail's rendering (strict undefined):
guard optional values with `{{% if x.y %}}`.

## List placeholders

A `Variable` whose sample is a list declares its items by the sample's first
item: `Variable("ticket.watchers", "...", ["a@example.org"])` is a list of
strings, `Variable("shift.crew", "...", [{{"name": "Max", "hours": 8}}])` a list
of objects with exactly these keys and types. The HTTP API checks every item
(`payload.shift.crew[0].hours: must be an integer, not str`).

## The base layout for plugin pages

A plugin page extends the core's layout: `{{% extends "base.html" %}}` and fills
`{{% block title %}}` and `{{% block content %}}`. It brings the top bar, the
Settings sub-navigation (for `MenuEntry(..., area="settings")`), flashed
messages (`flash(text, "success" | "error")`) and `csrf_token()` for forms.
Decorate the view with `plugin_enabled_required(NAME)` (and `admin_required`
for admin pages).

## When a hook raises

A faulty plugin fails alone: the exception is caught at its hook call and
recorded with the plugin's name, the hook and the error; other plugins and
rules go on, and the held-up part of an event runs again from the failed
events page or `postwerk events retry`. A plugin that cannot load is set aside
as broken. Details: [plugins.md, "When a hook raises"](plugins.md).
"""


def own_doc(obj) -> str:
    """The object's own documentation, "" when it has none (an inherited
    or generated docstring does not count)."""
    if isinstance(obj, type):
        doc = obj.__dict__.get("__doc__") or ""
        if dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
            return ""  # the signature dataclasses write when there is no docstring
        return inspect.cleandoc(doc)
    if callable(obj):
        return inspect.cleandoc(getattr(obj, "__doc__", None) or "")
    return ""


def field_docs(cls) -> dict[str, str]:
    """``#:`` comments above the fields of a class, by field name."""
    docs: dict[str, str] = {}
    pending: list[str] = []
    for line in inspect.getsource(cls).splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"(\w+)\s*:", stripped)
        if match and pending:
            docs[match.group(1)] = " ".join(pending)
        pending = []
    return docs


def problems() -> list[str]:
    """Public names or spec fields without documentation."""
    found = []
    for name in api.__all__:
        obj = getattr(api, name)
        if name in OBJECTS:
            continue
        if not own_doc(obj):
            found.append(f"core.api.{name} has no docstring")
        if dataclasses.is_dataclass(obj):
            documented = field_docs(obj)
            found += [
                f"core.api.{name}.{f.name} has no #: comment"
                for f in dataclasses.fields(obj)
                if f.name not in documented
            ]
    return found


class _Written:
    """An annotation as written in the source (they are strings here)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    empty = inspect.Parameter.empty

    def written(annotation):
        return _Written(annotation) if isinstance(annotation, str) else annotation

    params = [
        p.replace(annotation=written(p.annotation)) if p.annotation is not empty else p for p in sig.parameters.values()
    ]
    ret = sig.return_annotation
    return str(sig.replace(parameters=params, return_annotation=written(ret) if ret is not empty else ret))


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{f.default_factory.__name__}()`"
    return "required"


def render() -> str:
    out = [INTRO]
    for name in sorted(api.__all__, key=str.lower):
        obj = getattr(api, name)
        out.append(f"## `{name}`\n")
        if name in OBJECTS:
            out.append(OBJECTS[name].replace("``", "`") + "\n")
            continue
        if isinstance(obj, type):
            kind = "exception" if issubclass(obj, BaseException) else "class"
            out.append(f"*{kind}*\n")
        else:
            out.append(f"```python\n{name}{_signature(obj)}\n```\n")
        out.append(own_doc(obj).replace("``", "`") + "\n")
        if dataclasses.is_dataclass(obj):
            docs = field_docs(obj)
            out.append("| field | type | default | meaning |\n|-------|------|---------|---------|")
            for f in dataclasses.fields(obj):
                kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
                out.append(f"| `{f.name}` | `{kind}` | {_default(f)} | {docs.get(f.name, '').replace('``', '`')} |")
            out.append("")
        elif isinstance(obj, type) and name == "Plugin":
            docs = field_docs(obj)
            out.append("| attribute | meaning |\n|-----------|---------|")
            out += [f"| `{attr}` | {text.replace('``', '`')} |" for attr, text in docs.items()]
            out.append("")
    out.append(OUTRO)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
