"""Time in words: how long ago (or until) a moment is, and how long a wait lasts.

The one place the app words time. static/js/app.js re-words `<time data-relative>` in the
browser as time passes; its `relative()` follows `relative_words` step for step (the same table,
threshold and rounding), so a refreshed page reads as the server wrote it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from django.utils import timezone

# Closer than this either way is "just now": it also covers a browser clock a little ahead of
# the server's.
JUST_NOW_SECONDS = 45
# (how many of this unit make the next one, unit); app.js has the same table.
STEPS: tuple[tuple[float, str], ...] = (
    (60, "second"),
    (60, "minute"),
    (24, "hour"),
    (7, "day"),
    (4.35, "week"),
    (12, "month"),
    (math.inf, "year"),
)


# Devin sessions did not exist before this, and the API's clock is not a day ahead of ours: a time
# outside is a data fault. Pages show it as "unknown", and a sync never starts its window from it.
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)
MOST_AHEAD = timedelta(days=1)


def plausible(when: datetime, now: datetime | None = None) -> bool:
    """Whether `when` can be a real time of a Devin session (see EARLIEST_PLAUSIBLE)."""
    return EARLIEST_PLAUSIBLE <= when <= (now or timezone.now()) + MOST_AHEAD


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def relative_words(seconds_ago: float) -> str:
    """ "5 minutes ago" for 300, "in 2 hours" for -7200: one unit, rounded to the nearest.

    Rounds half up (not Python's half to even) so that app.js's Math.round agrees.
    """
    amount = abs(seconds_ago)
    if amount < JUST_NOW_SECONDS:
        return "just now"
    for size, unit in STEPS:
        n = math.floor(amount + 0.5)
        if n < size:
            words = _count(n, unit)
            return f"{words} ago" if seconds_ago > 0 else f"in {words}"
        amount /= size
    raise AssertionError("unreachable: the last step is infinite")


def relative(when: datetime, now: datetime | None = None) -> str:
    """How long ago (or until) `when` is, from `now` (default: this moment)."""
    return relative_words(((now or timezone.now()) - when).total_seconds())


def duration_words(seconds: float) -> str:
    """A wait in words, e.g. "Try again in {duration_words(s)}": "30 seconds", "4 minutes",
    "1 hour 5 minutes", "2 days 3 hours".

    Rounded up, so a wait never reads shorter than it is: seconds up to a minute, then whole
    minutes, then hours and minutes, then days and hours. Used for sign-in locks and for the
    waits the Devin API asks for (Retry-After).
    """
    whole = max(1, math.ceil(seconds))
    if whole <= 60:
        return _count(whole, "second")
    minutes = math.ceil(whole / 60)
    if minutes < 60:
        return _count(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _two(hours, "hour", minutes, "minute")
    days, hours = divmod(math.ceil(whole / 3600), 24)
    return _two(days, "day", hours, "hour")


def _two(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return _count(big, big_unit) + (f" {_count(small, small_unit)}" if small else "")
