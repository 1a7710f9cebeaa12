"""app.js re-words `<time data-relative>` in the browser: it must read as timewords wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from dashboard import timewords
from tests.test_timewords import RELATIVE

pytestmark = pytest.mark.browser

APP_JS = Path(__file__).resolve().parent.parent / "static/js/app.js"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_app_js_words_relative_time_as_the_server_does(page: Page) -> None:
    page.clock.set_fixed_time(NOW)
    times = "".join(
        f'<time datetime="{(NOW - timedelta(seconds=s)).isoformat(timespec="milliseconds")}"'
        " data-relative>server text</time>"
        for s, _ in RELATIVE
    )
    # app.js rewrites the times on DOMContentLoaded, as on a real page.
    page.set_content(f"<body>{times}<script>{APP_JS.read_text()}</script></body>")

    shown = page.locator("time").all_inner_texts()

    assert shown == [words for _, words in RELATIVE]
    assert shown == [timewords.relative(NOW - timedelta(seconds=s), NOW) for s, _ in RELATIVE]
