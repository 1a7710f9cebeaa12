"""Untrusted API data renders inert: escaped text, links only to http(s), no scripts or handlers."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from dashboard import sync
from dashboard.models import Session

pytestmark = pytest.mark.django_db

OUR_SCRIPTS = ("/static/django_htmx/", "/static/js/app.js", "/static/js/select-all.js")


class Inspector(HTMLParser):
    """Collects everything in a page that could run code or navigate somewhere unexpected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc"}:
                target = (value or "").strip().lower()
                # Our own favicon is an empty data: URL so that browsers do not ask for one.
                if tag == "link" and values.get("rel") == "icon" and value == "data:,":
                    continue
                if target.startswith(("javascript:", "data:", "vbscript:")):
                    self.problems.append(f"<{tag} {name}={value!r}>")
                if tag == "a" and name == "href":
                    self.links.append(value or "")
        if tag == "script":
            src = values.get("src") or ""
            if not src.startswith(OUR_SCRIPTS):
                self.problems.append(f"<script src={src!r}>")
            self.in_script = True
        if tag in {"iframe", "object", "embed", "svg", "math", "base"}:
            self.problems.append(f"<{tag}>")
        ours = "charset" in values or values.get("name") in {"viewport", "htmx-config"}
        if tag == "meta" and not ours:
            self.problems.append(f"<meta {values}>")

    def handle_data(self, data: str) -> None:
        if self.in_script and data.strip():
            self.problems.append(f"inline script: {data[:40]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False


def inspect(html: str) -> Inspector:
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector


def page(client: Client, query: str = "?archived=all") -> str:
    response = client.get("/" + query)
    assert response.status_code == 200
    return response.content.decode()


def test_a_sync_of_hostile_sessions_renders_inert(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    fake.inject("hostile", count=None, path="/sessions")
    run = sync.sync_org(acme)
    fake.clear_faults()
    assert run.state == "ok", run.error
    assert Session.objects.filter(org=acme, title__startswith="<script>").count() == 30
    client.force_login(operator)
    html = page(client)
    found = inspect(html)
    assert found.problems == []
    # The hostile text is shown, escaped, not dropped.
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;&lt;iframe" in html
    assert "{{ 7*7 }}" in html and ">49<" not in html
    # No session title or PR badge links anywhere but http(s).
    assert all(link.startswith(("/", "?", "#", "http://", "https://")) for link in found.links)
    # The htmx row fragment is just as inert.
    row = Session.objects.filter(org=acme).first()
    assert row is not None
    fragment = client.get(f"/sessions/{row.pk}/row/").content.decode()
    assert inspect(fragment).problems == []


NASTY: list[dict[str, Any]] = [
    {
        "title": "<img src=x onerror=alert(1)>",
        "url": "JaVaScRiPt:alert(1)",
        "status": "hibernating<script>",
        "status_detail": '" onmouseover="alert(1)',
        "category": "<svg/onload=alert(1)>",
        "origin": "carrier_pigeon",
        "tags": ["<script>x</script>", "' autofocus onfocus='alert(1)"],
        "pull_requests": [
            {"pr_url": " javascript:alert(1)", "pr_state": "superseded"},
            {"pr_url": "data:text/html,<script>alert(1)</script>", "pr_state": "open"},
            {"pr_url": "https://github.com/acme/web/pull/7", "pr_state": "merged"},
        ],
    },
    {"title": "no host", "url": "https:///nohost", "status": "exit"},
    {"title": "vbscript", "url": "vbscript:msgbox(1)", "status": "zzz"},
    {"title": "plain", "url": "https://app.devin.ai/sessions/ok", "status": "running"},
]


def test_nasty_fields_and_unknown_enums_render_inert(
    client: Client, fake: Any, acme: Any, operator: Any
) -> None:
    for fields in NASTY:
        fake.add_session("org-acme", **fields)
    run = sync.sync_org(acme)
    assert run.state == "ok", run.error
    client.force_login(operator)
    html = page(client, "?view=all")
    found = inspect(html)
    assert found.problems == []
    assert "Hibernating&lt;script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # The safe URLs are links; the rest are shown as text only.
    assert "https://github.com/acme/web/pull/7" in found.links
    assert "https://app.devin.ai/sessions/ok" in found.links
    assert not any("nohost" in link for link in found.links)
    # Unknown values get the neutral badge, never an error.
    assert 'class="badge badge-neutral">Hibernating&lt;script&gt;<' in html
    # The filter menus offer an unknown value from the link, escaped.
    html = page(client, "?status=%3Cscript%3E&origin=carrier_pigeon")
    assert inspect(html).problems == []
