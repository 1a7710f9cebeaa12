"""Small filters for rendering API data: labels and badges, times in words, which URLs may be links.

The words and colours come from dashboard.vocabulary and dashboard.timewords; the HTML lives in the
templates. Unknown values get the neutral badge, never an error.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django import template
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key
from django.template.context import Context
from django.template.defaulttags import CsrfTokenNode
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from dashboard import __version__, timewords, vocabulary
from dashboard.models import Organization, Session, SyncRun

register = template.Library()
# Why a view-only org's rows offer no Archive and no checkbox (on hover and focus).
VIEW_ONLY = "This org's token may only view sessions: Devin refused an archive (403)."


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


@register.filter
def session_row_key(
    row: Session, actable_orgs: Collection[int], now: datetime | None = None
) -> str:
    """What a row's cached HTML depends on. Every write of a session sets synced_at; the other
    fields are there for writes that bypass dashboard.sync (a shell, a test). The version keeps a
    shared cache (a configured CACHES["rows"]) from serving rows an older template made.

    Times as timestamps and the clock read once a page (`now`, from cached_rows): str() of an
    aware datetime and a clock read per plausible() were half of a page's 50 keys (~1.1 ms)."""
    now = now or timezone.now()
    return (
        f"{__version__}:{row.pk}:{row.synced_at.timestamp()}:{row.updated_at.timestamp()}:"
        f"{row.is_archived}:{row.status}:"
        f"{row.status_detail}:{row.category}:{row.acus_consumed}:{row.title}:{row.org.name}:"
        f"{row.org_id in actable_orgs}:{bool(actable_orgs)}:{row.subcategory}:{row.origin}:"
        f"{row.tags}:{row.pull_requests}:{row.user_id}:{row.org.can_manage}:"
        # Whether a time is plausible depends on the clock, not only on the row.
        f"{timewords.plausible(row.created_at, now)}:{timewords.plausible(row.updated_at, now)}"
    )


@register.filter
def session_cells(row: Session, actable_orgs: Collection[int]) -> dict[str, object]:
    """What one row of the sessions table shows, worked out once, for the row partial.

    The partial then only prints these values: a key of a dict is the template engine's cheapest
    lookup, where a model attribute, a filter or a comparison in the template costs several
    (a page's 50 rows: ~20 ms of CPU instead of ~30 here, before the row cache; see
    docs/performance.md). Values, never HTML: the template escapes and lays out all of them.
    """
    detail = row.status_detail
    archived = row.is_archived
    operator = row.org_id in actable_orgs
    # An org whose token Devin refused an archive (a 403) offers no action that would fail.
    view_only = operator and row.org.can_manage is False
    can_act = operator and not view_only
    badge = vocabulary.session_badge(row.status, detail, row.pr_states.strip("|").split("|"))
    return {
        "pk": row.pk,
        "session_id": row.session_id,
        "name": row.title or row.session_id,
        "href": link_url(row.url),
        "org": row.org.name,
        "archived": archived,
        "live": row.is_live,
        "can_act": can_act,
        "view_only": VIEW_ONLY if view_only else "",
        "selectable": can_act and not archived,
        "status": vocabulary.label(row.status),
        "badge": badge,
        "attn": badge == vocabulary.ATTENTION,
        "user": row.user_id,
        "detail": vocabulary.label(detail) if detail else "",
        "category": vocabulary.label(row.category) if row.category else "",
        "subcategory": row.subcategory,
        "prs": [
            {
                "href": link_url(pr.get("pr_url")),
                "url": pr.get("pr_url"),
                "badge": vocabulary.pr_badge(pr.get("pr_state")),
                "ref": vocabulary.pr_ref(pr.get("pr_url")),
                "label": vocabulary.label(pr.get("pr_state") or "unknown"),
            }
            for pr in row.pull_requests
        ],
        "acus": acus(row.acus_consumed),
        "origin": vocabulary.label(row.origin) if row.origin else "",
        "tags": row.tags,
        "created": row.created_at.isoformat(),
        # "" for a time that cannot be real: the row says "unknown" (timewords.plausible).
        "created_utc": _utc(row.created_at),
        "updated": row.updated_at.isoformat(),
        "updated_utc": _utc(row.updated_at),
        "action": "Unarchive" if archived else "Archive",
        "action_url": row.action_url if can_act else "",
        "terminate_url": (
            reverse("session_terminate", args=[row.pk]) if can_act and row.status != "exit" else ""
        ),
        "page_url": reverse("session_page", args=[row.pk]),
    }


@register.tag
def cached_rows(parser: template.base.Parser, token: template.base.Token) -> CachedRowsNode:
    """`{% cached_rows %}{% partial session-row %}{% endcached_rows %}`: the page's `rows`."""
    nodelist = parser.parse(("endcached_rows",))
    parser.delete_first_token()
    return CachedRowsNode(nodelist)


class CachedRowsNode(template.Node):
    """Every row of `rows` from the "rows" cache in one lookup, under the key session-row's
    `{% cache %}` stores it with; a row not there yet is rendered by the body (that partial,
    which stores it). A page's 50 rows cost ~4 ms of CPU through a {% cache %} tag each, nearly
    all of it the template engine's work per row rather than the cache's."""

    def __init__(self, nodelist: template.NodeList) -> None:
        self.nodelist = nodelist

    def render(self, context: Context) -> SafeString:
        rows, actable = context["rows"], context["actable_orgs"]
        now = timezone.now()
        keys = [
            make_template_fragment_key("session-row", [session_row_key(row, actable, now)])
            for row in rows
        ]
        found = caches["rows"].get_many(keys)
        html = []
        with context.push():
            for row, key in zip(rows, keys, strict=True):
                if key not in found:
                    context["row"] = row
                    found[key] = self.nodelist.render(context)
                html.append(found[key])
        return mark_safe("\n".join(html))


@register.simple_tag(takes_context=True)
def sync_cells(context: Context, org: Organization, run: SyncRun | None) -> dict[str, object]:
    """What an org's sync dot and status show (`{% sync_cells org run as sync %}`), worked out once.

    As for session_cells: the sync bar asked each run's properties, states and URLs again and
    again (10 orgs: ~3 ms of CPU a page); the template now prints these values. `kind` is the
    one state the status shows: none, queued, stalled, running, ok or failed.
    """
    return sync_state(org, run, context.get("actable_orgs") or ())


def sync_state(
    org: Organization, run: SyncRun | None, actable_orgs: Collection[int]
) -> dict[str, object]:
    """sync_cells for a view: the sessions page works them out before rendering (its sync bar's
    cache key holds them)."""
    active = run is not None and run.is_active
    if run is None:
        kind = "none"
    elif run.state == SyncRun.State.QUEUED:
        kind = "queued"
    elif run.stalled:
        kind = "stalled"
    elif run.state == SyncRun.State.RUNNING:
        kind = "running"
    else:
        kind = "ok" if run.state == SyncRun.State.OK else "failed"
    can_sync = org.pk in actable_orgs and not active
    cells: dict[str, object] = {
        "kind": kind,
        "dot": {"none": "none", "ok": "ok", "failed": "bad"}.get(kind, "busy"),
        "active": active,
        # Polled every second while a worker runs it; a queued or stalled run changes slower.
        "poll": ("1s" if kind == "running" else "2s") if active else "",
        "status_url": reverse("org_sync_status", args=[org.pk]) if active else "",
        "sync_url": reverse("org_sync", args=[org.pk]) if can_sync else "",
        "skipped": run.skipped if run is not None and not active else 0,
    }
    if run is not None and kind in ("queued", "ok"):
        # When it was queued, or when it ended.
        since = run.started_at if kind == "queued" else run.finished_at
        cells["since"] = _iso(since)
        cells["since_words"] = ago(since)
    return cells


def _iso(when: datetime | None) -> str:
    """What `when|date:'c'` prints: the ISO time in the current time zone."""
    return "" if when is None else timezone.localtime(when).isoformat()


def _utc(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if plausible(when) else ""


# Stands in for the request's CSRF token in a cached fragment: the token changes with every
# request, the fragment does not.
TOKEN_STAND_IN = "csrf-token-of-the-request"
_STAND_IN_INPUT = CsrfTokenNode().render(Context({"csrf_token": TOKEN_STAND_IN}))


@register.tag
def cached_html(parser: template.base.Parser, token: template.base.Token) -> CachedHtmlNode:
    """`{% cached_html "name" key %}…{% endcached_html %}`: the body's HTML from the "rows"
    cache under `key`, a string the view builds from every value the body prints (and the
    version, added here); rendered and stored when missing. Unlike `{% cache %}`, a
    `{% csrf_token %}` inside is the request's own: stored as a stand-in, put in on the way out."""
    bits = token.split_contents()
    if len(bits) != 3:
        raise template.TemplateSyntaxError("{% cached_html %} takes a name and a key")
    nodelist = parser.parse(("endcached_html",))
    parser.delete_first_token()
    return CachedHtmlNode(parser.compile_filter(bits[1]), parser.compile_filter(bits[2]), nodelist)


class CachedHtmlNode(template.Node):
    def __init__(
        self,
        name: template.base.FilterExpression,
        key: template.base.FilterExpression,
        nodelist: template.NodeList,
    ) -> None:
        self.name, self.key, self.nodelist = name, key, nodelist

    def render(self, context: Context) -> SafeString:
        key = self.key.resolve(context)
        if not key:  # nothing to key it by: rendered as if the tag were not there
            return self.nodelist.render(context)
        cache_key = make_template_fragment_key(self.name.resolve(context), [__version__, key])
        rows = caches["rows"]
        html = rows.get(cache_key)
        if html is None:
            with context.push(csrf_token=TOKEN_STAND_IN):
                html = self.nodelist.render(context)
            rows.set(cache_key, html)
        if _STAND_IN_INPUT in html:
            html = html.replace(_STAND_IN_INPUT, CsrfTokenNode().render(context))
        return mark_safe(html)
