"""Every admin page is well formed where a browser or a screen reader relies
on it: a plain-text <title>, and no id given twice (a label or a link to a
field in error would point at the wrong one)."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

from plugins.homepage.service import submit_inquiry
from plugins.ticket.service import create_ticket
from tests.helpers import login, make_tenant
from tests.test_german import walk


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: Counter[str] = Counter()
        self.in_title = False
        self.tags_in_title: list[str] = []
        self.title = ""

    def handle_starttag(self, tag, attrs):
        if self.in_title:
            self.tags_in_title.append(tag)
        if tag == "title":
            self.in_title = True
        for name, value in attrs:
            if name == "id" and value:
                self.ids[value] += 1

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False

    def handle_data(self, data):
        if self.in_title:
            self.title += data


def test_every_page_has_a_plain_title_and_unique_ids(client, ctx, smtp_sink):
    tenant = make_tenant("acme", smtp_sink, plugins=("ticket", "vertrag", "homepage", "inbound_mail"))
    create_ticket(tenant.id, title="Door", description="Stuck", reporter_name="Max", reporter_email="max@example.org")
    submit_inquiry(tenant.id, name="Eva", email="eva@example.org", phone="", message="Flat free?")
    login(client)
    pages = {url: html for url, html in walk(client, "/").items() if html}
    assert len(pages) >= 20, sorted(pages)
    problems = {}
    for url, html in pages.items():
        parser = _Structure()
        parser.feed(html)
        twice = sorted(i for i, n in parser.ids.items() if n > 1)
        title = " ".join(parser.title.split())
        if parser.tags_in_title or not title or len(title) > 120 or twice:
            problems[url] = {"title": title[:80], "tags in title": parser.tags_in_title, "ids twice": twice}
    for url, problem in sorted(problems.items()):
        print(url, problem)
    assert problems == {}
