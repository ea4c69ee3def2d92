"""Rendering admin-written templates safely.

Templates are tenant data written in a browser, so they run in Jinja's
immutable sandbox with strict undefined values. The sandbox stops attribute
escapes but bounds neither time nor size; ``core.mail.sandbox`` adds both (a
deadline, an iteration budget, and size bounds checked before arithmetic and
string growth), and this module caps the output size (output is streamed and
counted). Templates that exceed the budget on their own are refused at save.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable

from jinja2 import ChainableUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError

from .sandbox import MAX_OUTPUT_CHARS, BoundedSandbox, TemplateError, end_budget, start_budget
from .sandbox import MAX_RENDER_SECONDS  # noqa: F401 (re-exported)

_html_env = BoundedSandbox(autoescape=True)
_text_env = BoundedSandbox(autoescape=False)
# Save-time trial run: empty placeholders render as nothing, so that only what
# the template itself builds (loops, arithmetic, strings) meets the budget.
_trial_envs = {
    True: BoundedSandbox(autoescape=True, undefined=ChainableUndefined),
    False: BoundedSandbox(autoescape=False, undefined=ChainableUndefined),
}

_TOO_DEEP = "the template is nested too deeply (brackets, blocks or loops)"


class _CompiledCache:
    """Compiled templates by (mode, source hash): parsing is the expensive
    part of rendering, and the same few templates render thousands of times."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def get(self, source: str, html: bool):
        key = ("h" if html else "t", hashlib.blake2b(source.encode(), digest_size=16).hexdigest())
        template = self._items.get(key)
        if template is None:
            template = _compile(source, html)
            self._items[key] = template
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return template


def _compile(source: str, html: bool, env: BoundedSandbox | None = None):
    env = env or (_html_env if html else _text_env)
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"syntax error on line {exc.lineno}: {exc.message}", lineno=exc.lineno, kind="syntax"
        ) from exc
    except (RecursionError, MemoryError, SyntaxError) as exc:
        # Jinja's parser recurses per bracket; Python refuses more than 20
        # nested blocks in the compiled code.
        raise TemplateError(_TOO_DEEP, kind="syntax") from exc


_cache = _CompiledCache()


def render(source: str, variables: dict[str, Any], *, html: bool = False) -> str:
    """Render one template part; raises :class:`TemplateError` for anything
    the admin must fix (syntax, unknown placeholder, unsafe code, limits)."""
    if not source:
        return ""
    return _render(_cache.get(source, html), variables)


def _render(template, variables: dict[str, Any]) -> str:
    token = start_budget()
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"rendered text is longer than {MAX_OUTPUT_CHARS} characters", kind="limit")
            out.append(chunk)
        return "".join(out)
    except UndefinedError as exc:
        # Jinja's words ("'dict object' has no attribute 'nmae'") are for developers.
        name = _undefined_name(exc.message)
        raise TemplateError(f"empty placeholder '{name}': it is missing or has no value", kind="undefined") from exc
    except SecurityError as exc:
        raise TemplateError(f"not allowed in templates: {exc}", kind="security") from exc
    except TemplateError:
        raise
    except RecursionError as exc:
        raise TemplateError("template recursion too deep", kind="limit") from exc
    except Exception as exc:  # admin code: any runtime error is the admin's to fix
        raise TemplateError(f"template failed: {type(exc).__name__}: {exc}", kind="runtime") from exc
    finally:
        end_budget(token)


def _undefined_name(message: str | None) -> str:
    match = re.search(r"has no attribute '([^']+)'|'([^']+)' is undefined", message or "")
    return (match.group(1) or match.group(2)) if match else (message or "?")


class _MarkedUndefined(ChainableUndefined):
    """In a preview only: a missing placeholder shows as ⟦name?⟧ instead of stopping the render."""

    def __str__(self) -> str:
        return f"⟦{self._undefined_name}?⟧"

    __html__ = __str__


def render_marked(source: str, variables: dict[str, Any], *, html: bool = False) -> str:
    """Like :func:`render`, but a missing placeholder is marked where it stands
    (for the editor's preview: it shows what renders and what does not)."""
    if not source:
        return ""
    env = (_html_env if html else _text_env).overlay(undefined=_MarkedUndefined)
    token = start_budget()
    try:
        text = env.from_string(source).render(variables)
    except Exception as exc:  # anything else stays the admin's to fix; the normal render names it
        raise TemplateError(str(exc), kind="runtime") from exc
    finally:
        end_budget(token)
    if len(text) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"rendered text is longer than {MAX_OUTPUT_CHARS} characters", kind="limit")
    return text


# --- validation at save time -------------------------------------------------


@dataclass
class Problem:
    message: str
    lineno: int | None = None
    kind: str = "error"
    suggestion: str | None = None


@dataclass
class Validation:
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_UNSAFE_FILTERS = {"attr"}
# Names Jinja itself provides inside templates (loop inside for, caller in macros).
_BUILTIN_NAMES = {"loop", "range", "caller", "varargs", "kwargs"}


def validate(source: str, known_variables: Iterable[str], *, html: bool = False) -> Validation:
    """Static checks for the editor: syntax, unsafe attribute access and
    placeholders no event declares (with a "did you mean" suggestion)."""
    result = Validation()
    env = _html_env if html else _text_env
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        result.problems.append(Problem(f"syntax error: {exc.message}", exc.lineno, "syntax"))
        return result
    except (RecursionError, MemoryError):
        result.problems.append(Problem(_TOO_DEEP, None, "syntax"))
        return result
    limit = _trial(source, html)
    if limit is not None:
        result.problems.append(limit)
    known = set(known_variables)
    roots = {name.split(".")[0] for name in known}
    locally_bound = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    locally_bound |= {n.name for n in ast.find_all(nodes.Macro)}
    # A method called on a known value ({{ now.strftime('%d.%m.%Y') }}) is not a placeholder of its own.
    called = {_dotted(call.node) for call in ast.find_all(nodes.Call) if isinstance(call.node, nodes.Getattr)}

    for node in ast.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            result.problems.append(Problem(f"'{node.attr}' is not allowed in templates", node.lineno, "security"))
    for node in ast.find_all(nodes.Getitem):
        if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            result.problems.append(Problem(f"'{node.arg.value}' is not allowed in templates", node.lineno, "security"))
    for node in ast.find_all(nodes.Filter):
        if node.name in _UNSAFE_FILTERS:
            result.problems.append(
                Problem(f"the filter '{node.name}' is not allowed in templates", node.lineno, "security")
            )
    for node in ast.find_all(nodes.Const):
        if isinstance(node.value, str) and node.value.startswith("__"):
            result.problems.append(Problem(f"'{node.value}' is not allowed in templates", node.lineno, "security"))

    for dotted, lineno in _placeholders(ast):
        root = dotted.split(".")[0]
        if root in locally_bound or root in _BUILTIN_NAMES:
            continue
        if dotted in known or root in roots and any(k.startswith(dotted + ".") for k in known):
            continue
        if dotted in roots:  # a whole namespace, e.g. {{ ticket }}
            continue
        if (
            dotted in called
            and "." in dotted
            and (dotted.rsplit(".", 1)[0] in known or dotted.rsplit(".", 1)[0] in roots)
        ):
            continue
        suggestion = _suggest(dotted, known)
        text = f"unknown placeholder '{dotted}'"
        if suggestion:
            text += f" — did you mean '{suggestion}'?"
        result.problems.append(Problem(text, lineno, "unknown", suggestion))
    return result


def _trial(source: str, html: bool) -> Problem | None:
    """Run the template once with empty placeholders under the render budget:
    a template that exceeds it on its own (three nested loops over a long
    string, a huge power) is refused at save, not found out at send."""
    try:
        _render(_compile(source, html, _trial_envs[html]), {})
    except TemplateError as exc:
        if exc.kind in ("limit", "syntax"):
            return Problem(str(exc), exc.lineno, exc.kind)
    return None


def _placeholders(ast) -> list[tuple[str, int]]:
    """The longest dotted names read in a template (``a.b.c`` once, not ``a.b``)."""
    found: list[tuple[str, int]] = []
    inner: set[int] = set()
    for node in ast.find_all(nodes.Getattr):
        if isinstance(node.node, (nodes.Getattr, nodes.Name)):
            inner.add(id(node.node))
    for node in ast.find_all((nodes.Getattr, nodes.Name)):
        if id(node) in inner:
            continue
        if isinstance(node, nodes.Name) and node.ctx != "load":
            continue
        dotted = _dotted(node)
        if dotted:
            found.append((dotted, node.lineno))
    return found


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, nodes.Getattr):
        parts.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    parts.append(node.name)
    return ".".join(reversed(parts))


def _suggest(name: str, known: set[str]) -> str | None:
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
