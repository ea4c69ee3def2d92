"""docs/api.md is generated from core.api, and every public name and every
field of a spec has its documentation."""

from __future__ import annotations

from pathlib import Path

from core import api, apidocs

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_and_spec_field_is_documented():
    assert apidocs.problems() == []


def test_a_public_name_without_documentation_is_reported(monkeypatch):
    def undocumented(tenant_id):
        return tenant_id

    monkeypatch.setattr(api, "undocumented", undocumented, raising=False)
    monkeypatch.setattr(api, "__all__", [*api.__all__, "undocumented"])
    assert apidocs.problems() == ["core.api.undocumented has no docstring"]


def test_docs_api_md_is_the_rendered_reference():
    assert (ROOT / "docs" / "api.md").read_text() == apidocs.render(), (
        "docs/api.md is stale: run python -m core.apidocs > docs/api.md"
    )


def test_the_reference_covers_what_authors_ask_about():
    text = (ROOT / "docs" / "api.md").read_text()
    for needed in (
        "## `EventSpec`",
        "## `MenuEntry`",
        "## `InboundResult`",
        "| `sample` |",
        "{{ tenant.name }}",
        "{{ recipient.address }}",
        "{{ now }}",
        "## List placeholders",
        '{% extends "base.html" %}',
        "## When a hook raises",
        "AddressError",
        "## `plugin_enabled_required`",
    ):
        assert needed in text, needed
