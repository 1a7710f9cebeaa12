"""Small filters for rendering API data: which badge a value gets, and which URLs may be links.

Badge colours are a mapping here; the HTML lives in the templates. Unknown values get the neutral
badge, never an error.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from django import template

from dashboard import timewords

register = template.Library()

STATUS_BADGES = {
    "new": "neutral",
    "claimed": "info",
    "running": "info",
    "resuming": "info",
    "suspended": "warn",
    "exit": "ok",
    "error": "bad",
}
# A running session's detail says more than its status: waiting on a person is worth a look.
DETAIL_BADGES = {
    "waiting_for_user": "warn",
    "waiting_for_approval": "warn",
    "finished": "ok",
}
PR_BADGES = {"open": "ok", "draft": "neutral", "merged": "merged", "closed": "bad"}


@register.filter
def status_badge(status: str, detail: str = "") -> str:
    if status == "running" and detail in DETAIL_BADGES:
        return DETAIL_BADGES[detail]
    return STATUS_BADGES.get(status, "neutral")


@register.filter
def pr_badge(state: str | None) -> str:
    return PR_BADGES.get(state or "", "neutral")


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
    """`waiting_for_user` -> `waiting for user`."""
    return (value or "").replace("_", " ")


@register.filter
def acus(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


# The API's category values, as people write them; another value is shown as its words.
CATEGORY_LABELS = {
    "ci_cd_and_devops": "CI/CD and DevOps",
    "code_quality_and_security": "Code quality and security",
    "unit_test_generation": "Unit test generation",
}


@register.filter
def category(value: str) -> str:
    return CATEGORY_LABELS.get(value) or words(value).capitalize()


@register.filter
def ago(value: datetime | None) -> str:
    """ "5 minutes ago": the text a page shows without JavaScript (app.js keeps it current).

    A plain calculation rather than Django's timesince: a sessions page renders a hundred of
    these, and timesince's translation machinery was a measurable part of the page.
    """
    return "" if value is None else timewords.relative(value)
