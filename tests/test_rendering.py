"""Admin-written templates: sandboxed, strict, bounded (RELIABILITY 15-17)."""
from __future__ import annotations

import pytest

from core.mail.rendering import TemplateError, render, validate

KNOWN = ["ticket.id", "ticket.title", "ticket.reporter.name", "tenant.name"]


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
])
def test_escapes_are_refused_at_save_and_never_executed(source):
    assert any(p.kind == "security" for p in validate(source, KNOWN).problems)
    with pytest.raises(TemplateError):
        render(source, {"ticket": {"id": 1}})


@pytest.mark.parametrize("source", [
    "{{ 'a' * 10**9 }}",
    "{{ 'a' * 1000000 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}",
    "{{ 2 ** 100000 }}",
])
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
    assert render("{{ t.title }}/{{ t.reporter.name }}/{{ t.items is callable }}/{{ t['items'] }}", data) == \
        "Heizung/Erika/True/shadowed"
    with pytest.raises(TemplateError, match="empty placeholder"):
        render("{{ t.missing }}", data)
