"""Rendering admin-written templates safely.

Templates are tenant data written in a browser, so they run in Jinja's
immutable sandbox with strict undefined values. The sandbox stops attribute
escapes but bounds neither time nor size; this module adds both: a render
budget (deadline checked on every attribute access, call and operator, and a
cap on items produced by ``range``), a cap on string/list growth through
operators, and a cap on output size (output is streamed and counted).
"""
from __future__ import annotations

import difflib
import hashlib
import re
import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterable

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 1_000_000       # per rendered part
MAX_RENDER_SECONDS = 2.0
MAX_RANGE_ITEMS = 100_000          # across one render, all loops together
MAX_OPERAND_SIZE = 100_000         # result length of *, +, ** on sequences


class TemplateError(ValueError):
    """A template cannot be rendered; ``str()`` is meant for the admin."""

    def __init__(self, message: str, *, lineno: int | None = None, kind: str = "error"):
        super().__init__(message)
        self.lineno = lineno
        self.kind = kind


@dataclass
class _Budget:
    deadline: float
    range_items: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("postwerk_render_budget", default=None)


def _check_deadline() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateError(f"template took longer than {MAX_RENDER_SECONDS:g} s to render", kind="limit")


def _bounded_range(*args: int) -> Iterable[int]:
    budget = _budget.get()
    for i in range(*args):
        if budget is not None:
            budget.range_items += 1
            if budget.range_items > MAX_RANGE_ITEMS:
                raise TemplateError(f"template loops over more than {MAX_RANGE_ITEMS} items", kind="limit")
            if budget.range_items % 1000 == 0:
                _check_deadline()
        yield i


_DICT_ATTRIBUTES = frozenset(dir(dict))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+", "//", "%"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(undefined=StrictUndefined, **kwargs)
        self.globals = {"range": _bounded_range}

    def getattr(self, obj, attribute):
        _check_deadline()
        # Placeholders read plain dicts ({{ ticket.reporter.name }}): hand out
        # the item straight away. Jinja would get there too, but only after
        # raising and catching an AttributeError on every dot; names a dict
        # has as attributes (items, keys, ...) still take Jinja's own path.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        _check_deadline()
        return super().getitem(obj, argument)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        _check_deadline()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context, operator, left, right):
        _check_deadline()
        if operator == "**" and isinstance(right, int) and abs(right) > 100:
            raise TemplateError("exponent too large in template", kind="limit")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_OPERAND_SIZE:
                    raise TemplateError("template builds a value that is too large", kind="limit")
        if operator == "%" and isinstance(left, str):
            # "%" formatting on strings can reach attributes via %(x.__class__)s-like tricks
            # in other engines; in Jinja it is plain but can build huge strings: bound it.
            result = super().call_binop(context, operator, left, right)
            if len(result) > MAX_OPERAND_SIZE:
                raise TemplateError("template builds a value that is too large", kind="limit")
            return result
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (str, list, tuple)) and len(result) > MAX_OPERAND_SIZE:
            raise TemplateError("template builds a value that is too large", kind="limit")
        return result


_html_env = BoundedSandbox(autoescape=True)
_text_env = BoundedSandbox(autoescape=False)


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


def _compile(source: str, html: bool):
    env = _html_env if html else _text_env
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error on line {exc.lineno}: {exc.message}", lineno=exc.lineno,
                            kind="syntax") from exc


_cache = _CompiledCache()


def render(source: str, variables: dict[str, Any], *, html: bool = False) -> str:
    """Render one template part; raises :class:`TemplateError` for anything
    the admin must fix (syntax, unknown placeholder, unsafe code, limits)."""
    if not source:
        return ""
    template = _cache.get(source, html)
    token = _budget.set(_Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS))
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
        _budget.reset(token)


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
    token = _budget.set(_Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS))
    try:
        text = env.from_string(source).render(variables)
    except Exception as exc:  # anything else stays the admin's to fix; the normal render names it
        raise TemplateError(str(exc), kind="runtime") from exc
    finally:
        _budget.reset(token)
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
            result.problems.append(Problem(f"the filter '{node.name}' is not allowed in templates",
                                           node.lineno, "security"))
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
        if dotted in called and "." in dotted and (dotted.rsplit(".", 1)[0] in known
                                                   or dotted.rsplit(".", 1)[0] in roots):
            continue
        suggestion = _suggest(dotted, known)
        text = f"unknown placeholder '{dotted}'"
        if suggestion:
            text += f" — did you mean '{suggestion}'?"
        result.problems.append(Problem(text, lineno, "unknown", suggestion))
    return result


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
