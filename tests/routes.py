"""Every URL name of the dashboard: how to call it, and what each actor gets back.

tests/test_authz_matrix.py checks each entry for every actor, and FAILS when the URLconf has a
name that is missing here, so a new view cannot slip past the authorization checks.
tests/test_token_secrecy.py crawls the same entries as an admin.

To add a view:
  1. Add `"url_name": Route(...)` to ROUTES below.
  2. `kwargs` builds the URL's kwargs from the World (the fixtures: acme/globex orgs, the
     actors, and `session`, a session of acme), e.g. `kwargs=lambda w: {"pk": w.session.pk}`.
  3. `get` / `post` give the expected status per actor for that method; leave one None when the
     view does not take that method (it is then not checked). Use the presets (MEMBERS,
     OPERATORS_OF_ACME, ADMINS_ONLY, ...) or `expect(...)` for anything else.
  4. `data` builds the POST body; an empty body is fine for most views (a form with errors
     answers 200). A POST that succeeds may change the database: every case gets a fresh one.
Actors: anonymous (signed out), viewer and operator (of acme), outsider (operator of globex
only, so acme objects must be a 404 for them), admin (site admin).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from dashboard.models import Organization, Session

ACTORS = ("anonymous", "viewer", "operator", "outsider", "admin")
# Prefixes not checked: Django's admin has its own permission system (staff/superuser).
EXCLUDED_PREFIXES = ("admin/", "static/")


@dataclass(frozen=True)
class World:
    acme: Organization
    globex: Organization
    session: Session  # a session of acme
    users: dict[str, Any]  # actor name -> user (no entry for anonymous)


def make_world(fake: Any, acme: Organization, globex: Organization, users: dict[str, Any]) -> World:
    """The World for the conftest fixtures, with an acme session that exists in the fake too."""
    remote = fake.sessions("org-acme")[0]
    now = datetime.now(UTC)
    session = Session.objects.create(
        org=acme,
        session_id=remote["session_id"],
        title=remote.get("title") or "",
        status=remote["status"],
        created_at=now,
        updated_at=now,
    )
    return World(acme=acme, globex=globex, session=session, users=users)


def expect(
    *, anonymous: int = 302, viewer: int, operator: int, outsider: int, admin: int
) -> dict[str, int]:
    """Expected status per actor. Anonymous users are sent to the login page (302) by default."""
    return {
        "anonymous": anonymous,
        "viewer": viewer,
        "operator": operator,
        "outsider": outsider,
        "admin": admin,
    }


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)


def _no_kwargs(world: World) -> dict[str, Any]:
    return {}


def _no_data(world: World) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Route:
    kwargs: Callable[[World], dict[str, Any]] = _no_kwargs
    get: dict[str, int] | None = None
    post: dict[str, int] | None = None
    data: Callable[[World], dict[str, Any]] = _no_data
    query: str = ""  # appended to the GET URL, e.g. "?status=running"
    notes: str = field(default="", compare=False)


# Presets. "ok" is what an allowed actor gets: 200 for a page, 302 for a POST that redirects.
def members(ok: int = 200) -> dict[str, int]:
    """Any signed-in user (each sees only their own orgs' data)."""
    return expect(viewer=ok, operator=ok, outsider=ok, admin=ok)


def members_of_acme(ok: int = 200) -> dict[str, int]:
    """Anyone who belongs to acme; an outsider must not learn acme's objects exist."""
    return expect(viewer=ok, operator=ok, outsider=404, admin=ok)


def operators_of_acme(ok: int = 200) -> dict[str, int]:
    """Operators of acme and admins; a viewer's forged POST is a 403, an outsider's a 404."""
    return expect(viewer=403, operator=ok, outsider=404, admin=ok)


def admins_only(ok: int = 200) -> dict[str, int]:
    return expect(viewer=403, operator=403, outsider=403, admin=ok)


def admins_only_for_acme(ok: int = 200) -> dict[str, int]:
    """Admin pages about acme: members get 403, an outsider 404 (as for any acme object)."""
    return expect(viewer=403, operator=403, outsider=404, admin=ok)


def _acme(world: World) -> dict[str, Any]:
    return {"pk": world.acme.pk}


def _session(world: World) -> dict[str, Any]:
    return {"pk": world.session.pk}


def _bulk_run_of_operator(world: World) -> dict[str, Any]:
    from dashboard.models import BulkRun

    return {"pk": BulkRun.objects.create(actor=world.users["operator"]).pk}


def _rule_of_acme(world: World) -> dict[str, Any]:
    from dashboard.models import Rule

    return {"pk": Rule.objects.create(org=world.acme, name="old", query="status=exit").pk}


def _viewer_user(world: World) -> dict[str, Any]:
    return {"pk": world.users["viewer"].pk}


ROUTES: dict[str, Route] = {
    # Public.
    "login": Route(
        get=expect(anonymous=200, viewer=302, operator=302, outsider=302, admin=302),
        post=expect(anonymous=200, viewer=302, operator=302, outsider=302, admin=302),
    ),
    "logout": Route(
        get=expect(viewer=405, operator=405, outsider=405, admin=405), post=everyone(302)
    ),
    "setup": Route(get=everyone(404), post=everyone(404), notes="gone once a user exists"),
    "healthz": Route(get=everyone(200)),
    # Sessions.
    "sessions": Route(get=members()),
    "session_row": Route(kwargs=_session, get=members_of_acme()),
    "session_archive": Route(kwargs=_session, post=operators_of_acme(302)),
    "session_unarchive": Route(kwargs=_session, post=operators_of_acme(302)),
    "session_terminate": Route(kwargs=_session, post=operators_of_acme(302)),
    # The session's own page reads Devin (the conversation) as the viewer's own action.
    "session_page": Route(kwargs=_session, get=members_of_acme()),
    # Without JavaScript an "older" link opens the whole page (without its query, the page).
    "session_messages": Route(kwargs=_session, get=members_of_acme(), query="?starts=&before=m-1"),
    "session_send": Route(
        kwargs=_session, post=operators_of_acme(302), data=lambda w: {"text": "hello"}
    ),
    "session_tags": Route(
        kwargs=_session, post=operators_of_acme(302), data=lambda w: {"tags": "ops"}
    ),
    "sessions_live": Route(get=members(), query="?ids=1&since=0"),
    # A viewer's forged POST is a 403. The outsider operates globex only: acme's session is not
    # theirs to track or archive, so they are sent back with a message and nothing happens.
    "session_track": Route(
        post=expect(viewer=403, operator=302, outsider=302, admin=302),
        data=lambda w: {"ref": w.session.session_id},
    ),
    # Bulk archive (same rule as tracking) and its runs.
    "bulk_archive": Route(
        post=expect(viewer=403, operator=302, outsider=302, admin=302),
        data=lambda w: {"ids": [w.session.pk]},
    ),
    "bulk_terminate": Route(
        post=expect(viewer=403, operator=302, outsider=302, admin=302),
        data=lambda w: {"ids": [w.session.pk]},
    ),
    "bulk_run": Route(
        kwargs=_bulk_run_of_operator,
        get=expect(viewer=404, operator=200, outsider=404, admin=404),
        notes="a bulk run is its starter's own",
    ),
    # Retention rules: members of the org see them, its operators change them.
    "rules_index": Route(get=expect(viewer=302, operator=302, outsider=302, admin=200)),
    "rules": Route(kwargs=_acme, get=members_of_acme()),
    "rule_add": Route(kwargs=_acme, get=operators_of_acme(), post=operators_of_acme(200)),
    "rule": Route(kwargs=_rule_of_acme, get=members_of_acme()),
    "rule_edit": Route(kwargs=_rule_of_acme, get=operators_of_acme(), post=operators_of_acme(200)),
    "rule_switch": Route(kwargs=_rule_of_acme, post=operators_of_acme(302)),
    "rule_delete": Route(kwargs=_rule_of_acme, post=operators_of_acme(302)),
    "rules_pause_all": Route(post=admins_only(302)),
    # Insight.
    "insight_index": Route(get=members(302)),
    "insight_all": Route(get=members()),
    "insight": Route(kwargs=_acme, get=members_of_acme()),
    # Organizations: site admins, but Sync now is for acme's operators.
    "orgs": Route(get=admins_only()),
    "org_add": Route(get=admins_only(), post=admins_only(200)),
    "org_edit": Route(kwargs=_acme, get=admins_only_for_acme(), post=admins_only_for_acme(200)),
    "org_delete": Route(kwargs=_acme, get=admins_only_for_acme(), post=admins_only_for_acme(302)),
    "org_test": Route(kwargs=_acme, post=admins_only_for_acme(302)),
    "org_sync": Route(kwargs=_acme, post=operators_of_acme(302)),
    "org_sync_status": Route(kwargs=_acme, get=members_of_acme()),
    # Team: site admins.
    "team": Route(get=admins_only()),
    "team_add": Route(get=admins_only(), post=admins_only(200)),
    "team_user": Route(kwargs=_viewer_user, get=admins_only(), post=admins_only(302)),
    "team_user_deactivate": Route(kwargs=_viewer_user, post=admins_only(302)),
    "team_user_reactivate": Route(kwargs=_viewer_user, post=admins_only(302)),
    # A reset answers with the one-time password (or link) in the page itself: 200.
    "team_user_password": Route(
        kwargs=_viewer_user, post=admins_only(200), data=lambda w: {"how": "one-time"}
    ),
    "team_unlock": Route(post=admins_only(302), data=lambda w: {"username": "viewer"}),
    # Audit: everyone signed in sees the events of their own orgs (tests/test_audit_page.py).
    "audit": Route(get=members(), query="?outcome=ok"),
    "audit_csv": Route(get=members(), query="?action=sign_in"),
    # Your account: everyone signed in, each their own. An empty password form answers 200.
    "account": Route(get=members()),
    "password_change": Route(get=members(), post=members(200)),
    "sign_out_everywhere": Route(post=members(302)),
    # A reset link works signed out. Without its two parts it is no link (400); the set-password
    # step without a token in the session says the link cannot be used (200).
    "password_reset_link": Route(get=everyone(400)),
    "password_reset_confirm": Route(
        kwargs=lambda w: {"uidb64": "MQ"}, get=everyone(200), post=everyone(200)
    ),
}


def url_names() -> dict[str, str]:
    """{url name: route} for every named pattern outside EXCLUDED_PREFIXES.

    An unnamed pattern is reported as "<unnamed: route>" so that it fails the table check too.
    """
    found: dict[str, str] = {}

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(EXCLUDED_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield (pattern.name or f"<unnamed: {route}>", route)

    for name, route in walk(get_resolver().url_patterns, ""):
        found[name] = route
    return found
