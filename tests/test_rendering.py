"""Admin-written templates: sandboxed, strict, bounded (RELIABILITY 15-17)."""

from __future__ import annotations

import pytest

from core.mail.rendering import TemplateError, render, validate

KNOWN = ["ticket.id", "ticket.title", "ticket.reporter.name", "tenant.name"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ (1).__class__.__base__.__subclasses__() }}",
    ],
)
def test_escapes_are_refused_at_save_and_never_executed(source):
    assert any(p.kind == "security" for p in validate(source, KNOWN).problems)
    with pytest.raises(TemplateError):
        render(source, {"ticket": {"id": 1}})


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 10**9 }}",
        "{{ 'a' * 1000000 }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_runaway_templates_are_bounded(source):
    with pytest.raises(TemplateError) as info:
        render(source, {})
    assert info.value.kind == "limit"


def test_unknown_placeholder_is_named_with_a_suggestion():
    result = validate("Hallo {{ ticket.reporter.nmae }}, Ticket {{ ticket.id }}", KNOWN)
    (problem,) = result.problems
    assert problem.kind == "unknown" and problem.lineno == 1
    assert problem.suggestion == "ticket.reporter.name"
    assert "did you mean 'ticket.reporter.name'" in problem.message


def test_syntax_error_reports_the_line_of_the_unclosed_block():
    (problem,) = validate("ok\n{% if ticket.id %}\nno end", KNOWN).problems
    assert problem.kind == "syntax" and problem.lineno == 2 and "endif" in problem.message


def test_loop_variables_and_namespaces_are_not_unknown():
    source = "{% for x in [1, 2] %}{{ x }}{{ loop.index }}{% endfor %}{{ ticket }}{{ tenant.name }}"
    assert validate(source, KNOWN).ok


def test_missing_value_at_send_is_an_error_never_a_blank():
    with pytest.raises(TemplateError) as info:
        render("Hallo {{ ticket.reporter.name }}", {"ticket": {"id": 1}})
    assert info.value.kind == "undefined" and "reporter" in str(info.value)


def test_html_escapes_values_and_text_does_not():
    values = {"ticket": {"title": "<b>&</b>"}}
    assert render("{{ ticket.title }}", values, html=True) == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert render("{{ ticket.title }}", values) == "<b>&</b>"


def test_dotted_names_read_dict_items_as_jinja_does():
    data = {"t": {"title": "Heizung", "items": "shadowed", "reporter": {"name": "Erika"}}}
    # An item whose name a dict also has as a method stays the method, as in plain Jinja.
    assert (
        render("{{ t.title }}/{{ t.reporter.name }}/{{ t.items is callable }}/{{ t['items'] }}", data)
        == "Heizung/Erika/True/shadowed"
    )
    with pytest.raises(TemplateError, match="empty placeholder"):
        render("{{ t.missing }}", data)


# --- the budget on every operation (issue 16, item 1; RELIABILITY 34) ---------

NESTED_LOOPS = (
    "{% for a in 'a'*1000 %}{% for b in 'a'*1000 %}{% for c in 'a'*1000 %}{% endfor %}{% endfor %}{% endfor %}"
)
ATTACKS = {
    "power tower": "{{ (9**100**100**100**20) > 1 }}",
    "big base": "{{ (10**100)**100 }}",
    "product": "{% set n = 7**100 %}{{ " + "*".join(["n"] * 50) + " }}",
    "nested loops": NESTED_LOOPS,
    "nested loops with a test": "{% for a in 'a'*1000 %}{% for b in 'a'*1000 if b %}{% endfor %}{% endfor %}",
    "recursive loop": "{% for x in ['a'*1000]*1000 recursive %}{{ loop(x) if x|length > 1 }}{% endfor %}",
    "tilde": "{% set a = 'a'*100000 %}{% set b = a~a~a~a~a~a~a~a~a~a~a %}{{ b|length }}",
    "set block": "{% set a %}{{ 'a'*100000 }}{{ 'a'*100000 }}{% endset %}{% set b %}{{a}}{{a}}{{a}}{{a}}{{a}}"
    "{% endset %}{% set c %}{{b}}{{b}}{{b}}{{b}}{{b}}{% endset %}{{ c|length }}",
    "macro": "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{{ d(d(d(d(d(d(d(d(d(d(d('a'*1000))))))))))) }}",
    "center filter": "{{ 'x'|center(100000000) }}",
    "center method": "{{ 'x'.center(100000000) }}",
    "ljust method": "{{ 'x'.ljust(100000000) }}",
    "format filter": "{{ '%100000000s'|format('x') }}",
    "percent": "{{ '%100000000s' % 'x' }}",
    "format method": "{{ '{:>100000000}'.format('x') }}",
    "format method, nested width": "{{ '{:>{}}'.format('x', 100000000) }}",
    "replace filter": "{{ ('a'*100000)|replace('a', 'b'*1000) }}",
    "replace method": "{{ ('a'*100000).replace('a', 'b'*1000) }}",
    "join filter": "{{ ('a'*100000)|join('x'*1000) }}",
    "join method": "{{ ('x'*1000).join('a'*100000) }}",
    "indent": "{{ 'a\nb'|indent(100000000) }}",
    "wordwrap": "{{ ('a '*50000)|wordwrap(1, wrapstring='x'*1000) }}",
    "batch": "{{ [1]|batch(100000000, 'x')|list|length }}",
    "slice": "{{ [1]|slice(100000000, 'x')|list|length }}",
}


@pytest.mark.parametrize("source", ATTACKS.values(), ids=ATTACKS.keys())
def test_every_operation_is_bounded_before_it_runs(source):
    with pytest.raises(TemplateError) as info:
        render(source, {})
    assert info.value.kind == "limit"
    # Refused at save as well: the template exceeds the budget on its own.
    assert any(p.kind == "limit" for p in validate(source, []).problems)


# Small objects with a huge text (here 27 MB; with 100000 instead of 3000,
# 30 GB): sized before str() builds them, so the error names the estimate.
BOMB = "([[1]*3000]*3000)"
TEXT_BOMBS = {
    "output": "{{ %s }}" % BOMB,
    "tilde": "{{ 'x' ~ %s }}" % BOMB,
    "format method": "{{ '{}'.format(%s) }}" % BOMB,
    "percent": "{{ '%%s' %% (%s,) }}" % BOMB,
    "tojson": "{{ %s|tojson }}" % BOMB,
    "join": "{{ %s|join }}" % BOMB,
    "string": "{{ %s|string|length }}" % BOMB,
    "map to strings, list": "{{ %s|map('string')|list|length }}" % BOMB,
    "sum of lists": "{{ %s|sum(start=[])|length }}" % BOMB,
    "big numbers in a list": "{{ [(2**100)**90]*3000 }}",
    "dict view": "{{ {}.fromkeys(range(3000), 'a'*3000).items() }}",
}


@pytest.mark.parametrize("source", TEXT_BOMBS.values(), ids=TEXT_BOMBS.keys())
def test_a_huge_text_is_refused_before_it_is_built(source):
    with pytest.raises(TemplateError, match="template builds a text of") as info:
        render(source, {})
    assert info.value.kind == "limit"


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
        "".join("{%% for x%d in [1] %%}" % i for i in range(25)) + "x" + "{% endfor %}" * 25,
    ],
    ids=["3000 parentheses", "25 nested loops"],
)
def test_deeply_nested_source_is_a_clear_error(source):
    with pytest.raises(TemplateError, match="nested too deeply") as info:
        render(source, {})
    assert info.value.kind == "syntax"
    (problem,) = validate(source, []).problems
    assert "nested too deeply" in problem.message


def test_a_deadline_bound_template_is_stopped(monkeypatch):
    from core.mail import sandbox

    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", 0.2)
    with pytest.raises(TemplateError, match="took longer than") as info:
        render("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", {})
    assert info.value.kind == "limit"


def test_ordinary_templates_stay_within_the_budget():
    items = [{"name": f"Teil {i}", "price": i * 3} for i in range(200)]
    source = (
        "{% for i in items %}{{ loop.index }}. {{ i.name|center(20) }} {{ '%8.2f'|format(i.price) }}"
        "{{ '{:>6}'.format(i.price * 2**10) }}\n{% endfor %}{{ items|map(attribute='name')|join(', ') }}"
        "{{ (items|sum(attribute='price')) ** 2 }}{{ 'x'|indent(4) }}{{ 'a b c'|replace(' ', '-') }}"
    )
    assert render(source, {"items": items}).count("Teil") == 400
    assert validate(source, ["items"]).ok
