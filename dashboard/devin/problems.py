"""Reading what a failed answer says: problem bodies, Retry-After, and safe one-line excerpts.

Error bodies are untrusted and can be megabytes of HTML, so everything here ends in `clip`.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

MAX_DETAIL: Final = 300
_MAX_LISTED_ERRORS: Final = 5
_SECONDS: Final = re.compile(r"\d+(\.\d+)?")


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """One line, no control characters, at most `limit` characters: safe for messages and logs."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text[: limit * 4]).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def load_json(content: str | bytes) -> object:
    """Parse JSON, turning every way it can fail into ValueError."""
    try:
        return json.loads(content)
    except RecursionError:  # absurdly nested input
        raise ValueError("JSON nested too deeply") from None


def error_detail(text: str) -> str:
    """What an error body says, as one short line; "" when it says nothing useful.

    Handles the RFC 9457 problem body (type, title, status, detail, instance, errors) and the
    legacy FastAPI `{"detail": [{"loc", "msg", "type"}]}`; anything else is kept as text.
    """
    try:
        return _describe_body(load_json(text))
    except (RecursionError, TypeError, ValueError):
        # Not JSON, or JSON too odd to describe: the body is untrusted, so keep it as text.
        return clip(text)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or HTTP-date); None if absent or junk."""
    value = (value or "").strip()
    if not value:
        return None
    if _SECONDS.fullmatch(value):
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe_body(body: object) -> str:
    if not isinstance(body, dict):
        return clip(json.dumps(body, default=str)) if body not in (None, "", [], {}) else ""
    detail = body.get("detail")
    errors = body.get("errors")
    title = body.get("title")
    head = ""
    if isinstance(detail, str) and detail.strip():
        head = detail
    elif isinstance(title, str) and title.strip():
        head = title
    listed = ""
    if isinstance(detail, list):
        listed = _render_errors(detail)
    elif isinstance(errors, list) and errors:
        listed = _render_errors(errors)
    if head and listed:
        return clip(f"{head}: {listed}")
    return clip(head or listed)


def _render_errors(errors: list[object]) -> str:
    """Render validation errors, legacy `{loc, msg, type}` or problem+json `errors` items."""
    rendered = []
    for item in errors[:_MAX_LISTED_ERRORS]:
        if isinstance(item, dict):
            loc = item.get("loc", item.get("field"))
            message = item.get("msg", item.get("message", item.get("detail")))
            if isinstance(loc, list):
                loc = ".".join(str(part) for part in loc)
            text = str(message) if message is not None else json.dumps(item, default=str)
            rendered.append(f"{loc}: {text}" if loc else text)
        else:
            rendered.append(str(item))
    if len(errors) > _MAX_LISTED_ERRORS:
        rendered.append(f"and {len(errors) - _MAX_LISTED_ERRORS} more")
    return "; ".join(rendered)
