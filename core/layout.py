"""The frame of the default templates: the tenant's name and brand colour
above a plugin's content. Plugins use it for the templates they ship, so
every default mail looks the same; admins may edit the result freely."""

from __future__ import annotations

_HTML = """<div style="font-family:Arial,Helvetica,sans-serif;max-width:560px;margin:0 auto;color:#1d2330;line-height:1.5">
  <div style="border-top:4px solid {{ tenant.colour }};padding:16px 0">
    <strong style="font-size:18px;color:{{ tenant.colour }}">{{ tenant.name }}</strong>
  </div>
__CONTENT__
</div>"""


def branded_html(content: str) -> str:
    """Wrap HTML ``content`` (a Jinja template fragment) in the tenant's frame."""
    return _HTML.replace("__CONTENT__", content.strip("\n"))


def branded_text(content: str) -> str:
    """A plain-text template fragment, tidied (no leading blank lines, one final newline)."""
    return content.strip("\n") + "\n"
