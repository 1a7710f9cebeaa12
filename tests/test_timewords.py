from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard import timewords

# (seconds ago, words): negative is in the future. tests/test_browser_timewords.py runs app.js on
# the same table, so the browser words time as the server does.
RELATIVE = [
    (0, "just now"),
    (44.999, "just now"),
    (-44.999, "just now"),
    (45, "45 seconds ago"),
    (-45, "in 45 seconds"),
    (59.499, "59 seconds ago"),
    (59.5, "1 minute ago"),  # rounds half up, never "60 seconds"
    (61, "1 minute ago"),
    (89.999, "1 minute ago"),
    (90, "2 minutes ago"),
    (-90, "in 2 minutes"),
    (150, "3 minutes ago"),  # 2.5 rounds up, not to the even 2
    (3569.999, "59 minutes ago"),
    (3570, "1 hour ago"),
    (3599, "1 hour ago"),
    (2 * 3600, "2 hours ago"),
    (-2 * 3600, "in 2 hours"),
    (23.5 * 3600, "1 day ago"),
    (3 * 86400, "3 days ago"),
    (6.5 * 86400, "1 week ago"),
    (10 * 86400, "1 week ago"),
    (14 * 86400, "2 weeks ago"),
    (45 * 86400, "1 month ago"),
    (-45 * 86400, "in 1 month"),
    (200 * 86400, "7 months ago"),
    (360 * 86400, "1 year ago"),
    (800 * 86400, "2 years ago"),
]


@pytest.mark.parametrize(("seconds_ago", "words"), RELATIVE)
def test_relative_words(seconds_ago: float, words: str) -> None:
    assert timewords.relative_words(seconds_ago) == words


def test_relative_counts_from_now_or_a_given_moment() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert timewords.relative(now - timedelta(minutes=3), now) == "3 minutes ago"
    assert timewords.relative(now + timedelta(hours=5), now) == "in 5 hours"
    assert timewords.relative(datetime.now(UTC) - timedelta(days=2)) == "2 days ago"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "1 second"),
        (-5, "1 second"),
        (0.2, "1 second"),
        (1, "1 second"),
        (30, "30 seconds"),
        (59.1, "60 seconds"),
        (60, "60 seconds"),
        (61, "2 minutes"),  # rounded up: a wait never reads shorter than it is
        (119.9, "2 minutes"),
        (240, "4 minutes"),
        (290, "5 minutes"),
        (900, "15 minutes"),
        (3599, "1 hour"),
        (3600, "1 hour"),
        (3601, "1 hour 1 minute"),
        (3900, "1 hour 5 minutes"),
        (7200, "2 hours"),
        (7260, "2 hours 1 minute"),
        (86399, "1 day"),
        (86400, "1 day"),
        (90000, "1 day 1 hour"),
        (3 * 86400 + 7200, "3 days 2 hours"),
    ],
)
def test_duration_words(seconds: float, words: str) -> None:
    assert timewords.duration_words(seconds) == words
