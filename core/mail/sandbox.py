"""The sandbox admin-written templates run in, with a budget on everything.

Jinja's immutable sandbox stops attribute escapes but bounds neither time nor
size. Here every operation that could hold the process (and with big-integer
arithmetic, the GIL) is bounded *before* it runs:

- arithmetic: the size of the result of ``*``, ``**`` and ``<<`` is estimated
  from both operands and refused above ``MAX_INT_BITS`` / ``MAX_OPERAND_SIZE``;
- loops: every ``{% for %}`` (nested ones, recursive ones and ``range``
  included) draws from one iteration budget per render, and checks the
  deadline as it goes;
- strings: ``~``, the buffers of macros and ``{% set %}`` blocks, the growing
  filters and str methods (``center``, ``format``, ``replace``, ``join``,
  ``indent``, ``wordwrap``, ``'{:>N}'.format``, ``'%*s' %``, ...) are bounded
  to the output cap from their arguments;
- the deadline is checked on every attribute access, call, operator and
  loop step.
"""

from __future__ import annotations

import functools
import re
import time
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterable

from jinja2 import StrictUndefined, nodes
from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.filters import FILTERS
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from markupsafe import Markup

MAX_OUTPUT_CHARS = 1_000_000  # per rendered part; also the cap of any one string value
MAX_RENDER_SECONDS = 2.0
MAX_RANGE_ITEMS = 100_000  # across one render, all ranges together
MAX_LOOP_ITERATIONS = 100_000  # across one render, all loops together (nested ones multiply)
MAX_OPERAND_SIZE = 100_000  # result length of *, +, ** on sequences
MAX_INT_BITS = 10_000  # about 3,000 decimal digits


class TemplateError(ValueError):
    """A template cannot be rendered; ``str()`` is meant for the admin."""

    def __init__(self, message: str, *, lineno: int | None = None, kind: str = "error"):
        super().__init__(message)
        self.lineno = lineno
        self.kind = kind


@dataclass
class Budget:
    deadline: float
    range_items: int = 0
    loop_iterations: int = 0


_budget: ContextVar[Budget | None] = ContextVar("postwerk_render_budget", default=None)


def start_budget():
    """Start a render's budget; returns the token for :func:`end_budget`."""
    return _budget.set(Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS))


def end_budget(token) -> None:
    _budget.reset(token)


def check_deadline() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateError(f"template took longer than {MAX_RENDER_SECONDS:g} s to render", kind="limit")


def _too_large(what: str = "a value") -> TemplateError:
    return TemplateError(f"template builds {what} that is too large", kind="limit")


def _check_chars(n: int) -> None:
    if n > MAX_OUTPUT_CHARS:
        raise _too_large(f"a text of {n} characters (at most {MAX_OUTPUT_CHARS})")


_CONTAINERS = (list, tuple, set, frozenset, dict, type({}.keys()), type({}.values()), type({}.items()))


def text_size(value: Any, limit: int = MAX_OUTPUT_CHARS) -> int:
    """About how many characters ``str(value)`` has, found without building
    it: ``[[1]*100000]*100000`` is a small object whose text is 30 GB. A
    container shared many times is sized once and counted each time, as in
    the text; lists of plain numbers or strings are sized in C."""
    memo: dict[int, int] = {}

    def size(item: Any, depth: int) -> int:
        if isinstance(item, str):
            return len(item) + 2
        if isinstance(item, int):
            return item.bit_length() // 3 + 2
        if not isinstance(item, _CONTAINERS):
            return 8  # a float, None, a date: about; the output cap has the last word
        if id(item) in memo:
            return memo[id(item)]
        if depth > 100:
            return limit + 1
        children = [*item.keys(), *item.values()] if isinstance(item, dict) else list(item)
        total = 2 + 2 * len(children)
        kinds = set(map(type, children))
        if kinds <= {int, bool}:
            total += sum(map(int.bit_length, children)) // 3 + len(children)
        elif kinds <= {str}:
            total += sum(map(len, children)) + 2 * len(children)
        else:
            distinct = dict(zip(map(id, children), children))
            times = Counter(map(id, children))
            for key, child in distinct.items():
                total += size(child, depth + 1) * times[key]
                if total > limit:
                    break
        memo[id(item)] = total
        return total

    return size(value, 0)


def check_size(value: Any) -> Any:
    """Refuse a value whose text would pass the cap; returns it unchanged."""
    if not isinstance(value, (str, int, float)) or isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS:
        _check_chars(text_size(value))
    return value


def _bounded_range(*args: int) -> Iterable[int]:
    budget = _budget.get()
    for i in range(*args):
        if budget is not None:
            budget.range_items += 1
            if budget.range_items > MAX_RANGE_ITEMS:
                raise TemplateError(f"template loops over more than {MAX_RANGE_ITEMS} items", kind="limit")
            if budget.range_items % 1000 == 0:
                check_deadline()
        yield i


def _budgeted(iterable: Any) -> Iterable[Any]:
    """Every step of every loop draws from the render's iteration budget."""
    budget = _budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.loop_iterations += 1
        if budget.loop_iterations > MAX_LOOP_ITERATIONS:
            raise TemplateError(f"template loops more than {MAX_LOOP_ITERATIONS} times in all", kind="limit")
        if budget.loop_iterations % 256 == 0:
            check_deadline()
        yield item


# --- arithmetic ---------------------------------------------------------------


def _int(value: Any) -> bool:
    return isinstance(value, int)  # bool included: harmless


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too large, before computing it."""
    if operator == "**" and _int(right):
        if abs(right) > 100:
            raise TemplateError("exponent too large in template", kind="limit")
        if _int(left) and right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise _too_large("a number")
    elif operator == "*":
        if _int(left) and _int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _too_large("a number")
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and _int(n) and len(seq) * n > MAX_OPERAND_SIZE:
                raise _too_large()
    elif operator == "<<":
        if _int(left) and _int(right) and left.bit_length() + right > MAX_INT_BITS:
            raise _too_large("a number")
    elif operator == "+":
        if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            if len(left) + len(right) > MAX_OPERAND_SIZE:
                raise _too_large()
    elif operator == "%" and isinstance(left, str):
        check_printf(left, right)


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_printf(fmt: str, args: Any) -> None:
    """``'%1000000000s' % x`` builds a gigabyte before anyone can look at it."""
    for width, precision in _PRINTF.findall(fmt):
        for number in (width, precision):
            if number == "*":
                raise TemplateError("'*' widths are not allowed in templates", kind="limit")
            if number and int(number) > MAX_OUTPUT_CHARS:
                raise _too_large()
    _check_chars(len(fmt) + _length_of(args))


def _length_of(args: Any) -> int:
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else (args,)
    return sum(text_size(v) for v in values)


_SPEC_NUMBERS = re.compile(r"\d+")


class _BoundedFormatting:
    """``'{:>1000000000}'.format(x)``: check the resolved spec of each field."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        check_deadline()
        check_size(value)
        for number in _SPEC_NUMBERS.findall(format_spec):
            if int(number) > MAX_OUTPUT_CHARS:
                raise _too_large()
        return super().format_field(value, format_spec)

    def vformat(self, format_string, args, kwargs):
        result = super().vformat(format_string, args, kwargs)
        _check_chars(len(result))
        return result


class _Formatter(_BoundedFormatting, SandboxedFormatter):
    pass


class _EscapeFormatter(_BoundedFormatting, SandboxedEscapeFormatter):
    pass


# --- string growth through methods and filters --------------------------------


def _replaced_length(s: str, old: str, new: str, count: int | None = None) -> int:
    found = len(s) + 1 if old == "" else s.count(old)
    if count is not None and count >= 0:
        found = min(found, count)
    return len(s) + found * (len(new) - len(old))


def _check_str_method(obj: Any, args: tuple, kwargs: dict) -> tuple:
    """Bound str (and Markup) methods that grow a string from a small argument."""
    s, name = obj.__self__, obj.__name__
    if name in ("center", "ljust", "rjust", "zfill") and args and _int(args[0]):
        _check_chars(args[0])
    elif name == "expandtabs":
        size = args[0] if args and _int(args[0]) else kwargs.get("tabsize", 8)
        if _int(size):
            _check_chars(len(s) + s.count("\t") * size)
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = args[2] if len(args) > 2 and _int(args[2]) else kwargs.get("count")
        _check_chars(_replaced_length(s, args[0], args[1], count if _int(count) else None))
    elif name == "join" and args:
        args = (_collect(args[0], len(s)), *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max([len(v) for v in args[0].values() if isinstance(v, str)] or [1])
        _check_chars(len(s) * longest)
    return args


def _filter(name: str):
    original = FILTERS[name]

    def bounded(check):
        @functools.wraps(original)  # keeps jinja_pass_arg (eval context, environment)
        def wrapper(*args, **kwargs):
            check_deadline()
            replaced = check(*args, **kwargs)  # None, or all arguments by position
            return original(*replaced) if replaced is not None else original(*args, **kwargs)

        return wrapper

    return bounded


@_filter("center")
def _center(value, width=80):
    if _int(width):
        _check_chars(max(len(str(value)), width))


@_filter("indent")
def _indent(s, width=4, first=False, blank=False):
    s = str(s)
    prefix = width if isinstance(width, str) else " " * width if _int(width) and width <= MAX_OUTPUT_CHARS else None
    if prefix is None:
        raise _too_large()
    _check_chars(len(s) + (s.count("\n") + 1) * len(prefix))


@_filter("wordwrap")
def _wordwrap(environment, s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True):
    s = str(s)
    joint = wrapstring if isinstance(wrapstring, str) else environment.newline_sequence
    _check_chars(len(s) + (len(s) + 1) * len(joint))


@_filter("replace")
def _replace(eval_ctx, s, old, new, count=None):
    _check_chars(_replaced_length(str(s), str(old), str(new), count if _int(count) else None))


def _collect(iterable: Any, separator: int = 0) -> list:
    """The items of an iterable, stopped as soon as their text (with the
    separators) would pass the cap, before they are all held."""
    items, total = [], 0
    for item in _budgeted(iterable):
        total += text_size(item) + separator
        _check_chars(total)
        items.append(item)
    return items


@_filter("join")
def _join(eval_ctx, value, d="", attribute=None):
    if attribute is None:
        return (eval_ctx, _collect(value, len(str(d))), d, attribute)
    items = list(_budgeted(value))
    _check_chars(len(str(d)) * max(len(items) - 1, 0))
    return (eval_ctx, items, d, attribute)


@_filter("list")
def _list(eval_ctx, value):
    return (eval_ctx, _collect(value))


@_filter("string")
def _string(value):
    check_size(value)


@_filter("escape")
def _escape(value):
    check_size(value)


@_filter("pprint")
def _pprint(value):
    check_size(value)


@_filter("sum")
def _sum(environment, iterable, attribute=None, start=0):
    if not isinstance(start, (int, float)):  # sum of lists or strings: their concatenation
        return (environment, _collect(iterable), attribute, start)


@_filter("format")
def _format(value, *args, **kwargs):
    check_printf(str(value), kwargs or args)


@_filter("tojson")
def _tojson(eval_ctx, value, indent=None):
    if _int(indent) and indent > 100:
        raise _too_large()
    check_size(value)


@_filter("batch")
def _batch(value, linecount, fill_with=None):
    if fill_with is not None and _int(linecount) and linecount > MAX_OPERAND_SIZE:
        raise _too_large("a list")


@_filter("slice")
def _slice(eval_ctx, value, slices, fill_with=None):  # async_variant passes the eval context
    if _int(slices) and slices > MAX_OPERAND_SIZE:
        raise _too_large("a list")


_BOUNDED_FILTERS = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "format": _format,
    "tojson": _tojson,
    "batch": _batch,
    "slice": _slice,
    "list": _list,
    "string": _string,
    "escape": _escape,
    "e": _escape,
    "pprint": _pprint,
    "sum": _sum,
}


def _bounded_concat(parts: Iterable[Any]) -> str:
    """Joins the buffer of a macro, call block or ``{% set %}`` block."""
    parts = list(parts)
    _check_chars(sum(len(p) for p in parts))
    return "".join(parts)


# --- loops and ``~`` in the compiled code --------------------------------------

_LOOP_FILTER = "_budgeted"


class _BoundedCodeGenerator(CodeGenerator):
    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame) -> None:  # noqa: N802
        # Jinja's own, with each part sized before it is turned into text and
        # the whole checked after.
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"environment.bounded_concat({func_name}((")
        for arg in node.nodes:
            self.write("environment.sized(")
            self.visit(arg, frame)
            self.write("), ")
        self.write(")))")


_DICT_ATTRIBUTES = frozenset(dir(dict))


def _finalize(value: Any) -> Any:
    return "" if value is None else check_size(value)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "+", "//", "%"])
    code_generator_class = _BoundedCodeGenerator
    concat = staticmethod(_bounded_concat)
    sized = staticmethod(check_size)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("undefined", StrictUndefined)
        # Every {{ value }} is sized before it becomes text, and a null payload
        # value renders empty, as the HTTP API promises, not "None".
        kwargs.setdefault("finalize", _finalize)
        super().__init__(**kwargs)
        self.globals = {"range": _bounded_range}
        self.filters.update(_BOUNDED_FILTERS)
        self.filters[_LOOP_FILTER] = _budgeted

    @staticmethod
    def bounded_concat(value: str) -> str:
        _check_chars(len(value))
        return value

    def _parse(self, source, name, filename):
        tree = super()._parse(source, name, filename)
        # Jinja allows no custom node types: the iterable of every loop goes
        # through a filter (a generator, so never folded at compile time).
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        return tree

    def getattr(self, obj, attribute):
        check_deadline()
        if obj is None:
            # Under a null object ("assignee": null) every placeholder is
            # empty, like a null leaf; a name under a missing one still fails.
            return None
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
        check_deadline()
        return super().getitem(obj, argument)

    def call_filter(self, *args, **kwargs):  # map('string') and friends, once per item
        check_deadline()
        return super().call_filter(*args, **kwargs)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        check_deadline()
        if isinstance(getattr(__obj, "__self__", None), str):
            args = _check_str_method(__obj, args, kwargs)
        elif isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (_budgeted(args[0]), *args[1:])
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context, operator, left, right):
        check_deadline()
        check_binop(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (str, list, tuple)) and len(result) > MAX_OPERAND_SIZE:
            raise _too_large()
        return result

    def wrap_str_format(self, value):
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        s = value.__self__
        formatter = _EscapeFormatter(self, escape=s.escape) if isinstance(s, Markup) else _Formatter(self)
        is_format_map = value.__name__ == "format_map"

        @functools.wraps(value)
        def bounded(*args, **kwargs):
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return type(s)(formatter.vformat(s, args, kwargs))

        return bounded


__all__ = [
    "BoundedSandbox",
    "TemplateError",
    "check_deadline",
    "start_budget",
    "end_budget",
    "MAX_OUTPUT_CHARS",
    "MAX_RENDER_SECONDS",
    "MAX_RANGE_ITEMS",
    "MAX_LOOP_ITERATIONS",
    "MAX_OPERAND_SIZE",
    "MAX_INT_BITS",
]
