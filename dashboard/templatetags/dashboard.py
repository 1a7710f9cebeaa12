"""Small filters for rendering API data: labels and badges, times in words, which URLs may be links.

The words and colours come from dashboard.vocabulary and dashboard.timewords; the HTML lives in the
templates. Unknown values get the neutral badge, never an error.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from django import template

from dashboard import timewords, vocabulary

register = template.Library()


@register.filter
def status_badge(status: str, detail: str | None = "") -> str:
    return vocabulary.status_badge(status, detail)


@register.filter
def pr_badge(state: str | None) -> str:
    return vocabulary.pr_badge(state)


@register.filter
def label(value: str | None) -> str:
    """A status, detail, category, origin or PR state in words, e.g. "CI/CD and DevOps"."""
    return vocabulary.label(value)


@register.filter
def link_url(value: object) -> str:
    """The URL if it is a plain http(s) URL with a host, else "" (render the text instead)."""
    if not isinstance(value, str) or len(value) > 2000:
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return ""
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        return ""
    return value.strip()


@register.filter
def words(value: str) -> str:
    """`sign_in_locked` -> `sign in locked`: for values that have no label of their own."""
    return (value or "").replace("_", " ")


@register.filter
def acus(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


@register.filter
def plausible(value: datetime | None) -> bool:
    """Whether a time from the API can be real (timewords.plausible); else pages say "unknown"."""
    return value is not None and timewords.plausible(value)


@register.filter
def ago(value: datetime | None) -> str:
    """ "5 minutes ago": the text a page shows without JavaScript (app.js keeps it current).

    A plain calculation rather than Django's timesince: a sessions page renders a hundred of
    these, and timesince's translation machinery was a measurable part of the page.
    """
    return "" if value is None else timewords.relative(value)
