"""Filters for the session page: untrusted message text made safe, PR references, JSON.

Everything from Devin is escaped; the only markup added is <a> around http(s) URLs (so a
`javascript:` link stays text) and the page's own <pre><code> for fenced blocks.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from django import template
from django.template.defaultfilters import linebreaksbr
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from dashboard import conversation

register = template.Library()

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
_PULL = re.compile(r"^/([^/]+/[^/]+)/pulls?/(\d+)")


@register.filter
def message_html(text: str) -> SafeString:
    """A message as the page shows it: prose escaped, its http(s) URLs as links and its line
    breaks kept; fenced code blocks as <pre><code>, never interpreted. One filter rather than a
    loop of filters in the template: for 50 messages that loop was most of the page's render."""
    out = [
        format_html("<pre><code>{}</code></pre>", part.text)
        if part.code
        else format_html("<p>{}</p>", linebreaksbr(linkify(part.text)))
        for part in conversation.parts(text)
    ]
    return mark_safe("".join(out))  # every piece above was escaped


@register.filter
def linkify(text: str) -> SafeString:
    """Escaped text with its http(s) URLs as links (nofollow, opened apart)."""
    out: list[str] = []
    at = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(escape(text[at : match.start()]))
        out.append(
            format_html(
                '<a href="{}" rel="noopener noreferrer nofollow" target="_blank">{}</a>', url, url
            )
        )
        at = end
    out.append(escape(text[at:]))
    return mark_safe("".join(out))  # every piece above was escaped


@register.filter
def is_long(text: str) -> bool:
    return len(text) > conversation.LONG_MESSAGE


@register.filter
def pr_ref(url: str) -> str:
    """`https://github.com/acme/api/pull/123` -> `acme/api#123`; anything else as it is."""
    try:
        parts = urlsplit(url or "")
    except ValueError:
        return url or ""
    match = _PULL.match(parts.path)
    return f"{match.group(1)}#{match.group(2)}" if match else (url or "")


@register.filter
def pretty_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
