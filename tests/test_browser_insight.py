"""Insight's chart on a phone: the axis values are readable and do not overlap."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from dashboard import sync
from dashboard.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_chart_is_readable_on_a_phone(
    live_server: Any, page: Page, login_as: Any, viewer: Any, acme: Any, globex: Any
) -> None:
    for org in (acme, globex):
        sync.sync_org(org)
    Membership.objects.create(user=viewer, org=globex)
    page.set_viewport_size({"width": 390, "height": 844})
    login_as(page, viewer)
    page.goto(live_server.url + "/insight/")
    expect(page.get_by_role("heading", name="Insight · All organizations")).to_be_visible()
    page.get_by_role("link", name="Last 90 days").click()
    expect(page.get_by_role("img", name="ACUs per day")).to_be_visible()

    labels = page.locator(".chart-y span, .chart-x span")
    assert labels.count() >= 5
    boxes = []
    for n in range(labels.count()):
        label = labels.nth(n)
        size = float(label.evaluate("e => getComputedStyle(e).fontSize").removesuffix("px"))
        assert size >= 12, label.inner_text()
        box = label.evaluate(
            "e => { const r = document.createRange(); r.selectNodeContents(e);"
            " const b = r.getBoundingClientRect();"
            " return [b.left, b.top, b.right, b.bottom, b.height]; }"
        )
        assert box[4] >= 12  # the glyphs as drawn, not a scaled-down SVG text
        assert box[0] >= 0 and box[2] <= 390, label.inner_text()
        boxes.append((label.inner_text(), box))
    for i, (a, (l1, t1, r1, b1, _)) in enumerate(boxes):
        for b, (l2, t2, r2, b2, _) in boxes[i + 1 :]:
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1, f"{a!r} overlaps {b!r}"
    # The y values run from 0 up, and the top one is at least the highest day.
    values = [float(v.replace(",", "")) for v in page.locator(".chart-y span").all_inner_texts()]
    assert values[-1] == 0 and values == sorted(values, reverse=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
