"""The Audit page and its CSV export: who sees which events, filters, pages, and a safe CSV."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dashboard.models import AuditEvent, Organization
from dashboard.views.audit import safe_cell
from tests.routes import ROUTES, make_world

pytestmark = pytest.mark.django_db


def event(action: str, **fields: Any) -> AuditEvent:
    org = fields.get("org")
    if org is not None:
        fields.setdefault("org_label", str(org))
    actor = fields.get("actor")
    if actor is not None:
        fields.setdefault("actor_name", actor.get_username())
    return AuditEvent.objects.create(action=action, **fields)


def rows(response: Any) -> list[str]:
    """The detail cell of each event row shown, in order; the tests' events all have one.

    (force_login records a sign-in too, with no detail: those are left out.)
    """
    html = response.content.decode()
    cells = re.findall(r'<td data-label="Detail" class="audit-detail">(.*?)</td>', html, re.S)
    return [cell for cell in cells if cell]


def csv_rows(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def trail(
    admin: Any, operator: Any, viewer: Any, outsider: Any, acme: Organization, globex: Organization
) -> None:
    event("sign_in", actor=admin, detail="admin signed in")
    event("sign_in", actor=operator, detail="operator signed in")
    event("sign_in", actor=outsider, detail="outsider signed in")
    event("sign_in", actor_name="operator", outcome="failed", detail="someone tried operator")
    event("sign_in", actor_name="outsider", outcome="failed", detail="someone tried outsider")
    event("user_created", actor=admin, detail="admin created viewer")
    event("archive", actor=operator, org=acme, session_id="devin-1", detail="acme archive")
    event("sync", actor_name="sync job", org=acme, detail="acme sync")
    event("credential_replaced", actor=admin, org=acme, detail="acme token replaced")
    event("archive", actor=outsider, org=globex, outcome="failed", detail="globex archive")
    event("membership_changed", actor=admin, org=globex, detail="globex membership")


def test_admin_sees_every_event_newest_first(client: Client, admin: Any, trail: None) -> None:
    client.force_login(admin)
    shown = rows(client.get("/audit/"))
    assert shown[0] == "globex membership"
    assert shown[-1] == "admin signed in"
    assert len(shown) == 11


def test_members_see_their_orgs_events_and_only_their_own_sign_ins(
    client: Client, operator: Any, trail: None
) -> None:
    client.force_login(operator)
    shown = set(rows(client.get("/audit/")))
    assert shown == {
        "operator signed in",
        "someone tried operator",
        "acme archive",
        "acme sync",
        "acme token replaced",
    }


def test_viewers_see_their_orgs_events_but_not_others_sign_ins(
    client: Client, viewer: Any, trail: None
) -> None:
    client.force_login(viewer)
    shown = set(rows(client.get("/audit/")))
    assert shown == {"acme archive", "acme sync", "acme token replaced"}


def test_outsider_sees_nothing_of_acme(
    client: Client, outsider: Any, acme: Any, trail: None
) -> None:
    client.force_login(outsider)
    shown = set(rows(client.get("/audit/")))
    assert shown == {
        "outsider signed in",
        "someone tried outsider",
        "globex archive",
        "globex membership",
    }
    # Asking for acme's events by its pk is ignored, not answered.
    response = client.get(f"/audit/?org={acme.pk}")
    assert "Unknown organization in the link" in response.content.decode()
    assert "acme archive" not in response.content.decode()
    assert "acme" not in "".join(row["detail"] for row in csv_rows(client.get("/audit/export.csv")))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("action=archive", {"acme archive", "globex archive"}),
        ("outcome=failed", {"someone tried operator", "someone tried outsider", "globex archive"}),
        ("actor=operator", {"operator signed in", "someone tried operator", "acme archive"}),
        ("actor=sync+job", {"acme sync"}),
        ("org=none&action=user_created", {"admin created viewer"}),
        ("action=archive&outcome=ok", {"acme archive"}),
    ],
)
def test_filters(client: Client, admin: Any, trail: None, query: str, expected: set[str]) -> None:
    client.force_login(admin)
    assert set(rows(client.get(f"/audit/?{query}"))) == expected


def test_org_filter(client: Client, admin: Any, acme: Any, trail: None) -> None:
    client.force_login(admin)
    shown = set(rows(client.get(f"/audit/?org={acme.pk}")))
    assert shown == {"acme archive", "acme sync", "acme token replaced"}


def test_date_range_includes_both_days(client: Client, admin: Any) -> None:
    tz = timezone.get_current_timezone()
    for day in (1, 2, 3, 4):
        event("sync", at=datetime(2026, 3, day, 23, 59, tzinfo=tz), detail=f"March {day}")
    client.force_login(admin)
    shown = rows(client.get("/audit/?start=2026-03-02&end=2026-03-03"))
    assert shown == ["March 3", "March 2"]
    assert rows(client.get("/audit/?start=2026-03-04")) == ["March 4"]
    assert rows(client.get("/audit/?end=2026-03-01")) == ["March 1"]
    response = client.get("/audit/?start=yesterday")
    assert "is not a date" in response.content.decode()
    assert len(rows(response)) == 4


def test_filters_are_labelled_inputs(client: Client, admin: Any) -> None:
    client.force_login(admin)
    html = client.get("/audit/").content.decode()
    for name in ("org", "actor", "action", "outcome", "start", "end"):
        field_id = re.search(rf'<(?:input|select)[^>]*id="([^"]+)"[^>]*name="{name}"', html)
        assert field_id, name
        assert f'<label for="{field_id.group(1)}">' in html


def test_times_are_machine_readable_for_local_display(client: Client, admin: Any) -> None:
    at = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    event("sync", at=at, detail="x")
    client.force_login(admin)
    html = client.get("/audit/").content.decode()
    assert f'<time datetime="{at.isoformat()}" data-relative>' in html


def test_empty_and_no_match_states(client: Client, admin: Any) -> None:
    client.force_login(admin)
    assert "No events match these filters." in client.get("/audit/?action=sync").content.decode()


def test_keyset_pages_walk_every_event_once(client: Client, admin: Any) -> None:
    same_time = timezone.now()
    # 120 events, many sharing a timestamp: the pk breaks the tie.
    AuditEvent.objects.bulk_create(
        AuditEvent(action="sync", at=same_time - timedelta(seconds=n // 7), detail=f"e{n}")
        for n in range(120)
    )
    client.force_login(admin)
    seen: list[str] = []
    links: list[str] = []
    url = "/audit/?action=sync"
    while url:
        response = client.get(url)
        seen += rows(response)
        found = re.search(r'href="(\?[^"]+)" rel="next"', response.content.decode())
        url = "/audit/" + found.group(1).replace("&amp;", "&") if found else ""
        links += [url] if url else []
    assert len(links) == 2
    assert all("action=sync" in link for link in links)  # the filter travels with the page
    assert len(seen) == 120 == len(set(seen))
    expected = list(
        AuditEvent.objects.filter(action="sync")
        .order_by("-at", "-pk")
        .values_list("detail", flat=True)
    )
    assert seen == expected


def test_a_garbled_page_link_shows_the_first_page(client: Client, admin: Any) -> None:
    event("sync", detail="only")
    client.force_login(admin)
    response = client.get("/audit/?after=bm9wZQ")
    assert "That page link has expired" in response.content.decode()
    assert rows(response) == ["only"]


def cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("org=%C2%B2", "Unknown organization in the link"),
        ("org=99999999999999999999999999999", "Unknown organization in the link"),
        ("end=9999-12-31", "too far in the past or the future"),
        ("start=0001-01-01", "too far in the past or the future"),
        ("start=2026-02-30", "is not a date"),
        # A NUL is a 400 before any filter reads it (tests/test_hostile_input.py).
        ("after=" + cursor(["9999-12-31T23:00:00-05:00", 1]), "That page link has expired"),
        ("after=" + cursor(["2026-01-01T00:00:00", 1]), "That page link has expired"),
        ("after=" + cursor(["2026-01-01T00:00:00+00:00", 2**64]), "That page link has expired"),
        ("after=" + cursor(["at", "2026-01-01T00:00:00+00:00", 1]), "That page link has expired"),
    ],
)
def test_a_bad_value_is_left_out_with_a_note_never_a_500(
    client: Client, admin: Any, query: str, note: str
) -> None:
    event("sync", detail="only")
    client.force_login(admin)
    for url in (f"/audit/?{query}&action=sync", f"/audit/export.csv?{query}&action=sync"):
        response = client.get(url)
        assert response.status_code == 200
    response = client.get(f"/audit/?{query}&action=sync")
    assert note in response.content.decode()
    assert rows(response) == ["only"]  # the bad value is left out; action=sync still applies


def test_an_unknown_outcome_quietly_means_any(client: Client, admin: Any) -> None:
    event("sync", detail="only")
    client.force_login(admin)
    response = client.get("/audit/?outcome=evil")
    assert 'class="flash flash-warning"' not in response.content.decode()
    assert rows(response) == ["only"]


def test_a_page_of_100k_events_is_one_indexed_query_without_count_or_offset(
    client: Client, admin: Any
) -> None:
    start = timezone.now() - timedelta(days=365)
    batch = [
        AuditEvent(
            action=("sign_in", "sync", "archive")[n % 3],
            actor_name=f"user{n % 50}",
            at=start + timedelta(seconds=n * 300),
            detail=f"event {n}",
        )
        for n in range(100_000)
    ]
    AuditEvent.objects.bulk_create(batch, batch_size=5000)
    client.force_login(admin)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/audit/?actor=user7&action=sync")
    assert response.status_code == 200
    assert len(rows(response)) == 50
    audit_queries = [
        q["sql"] for q in queries.captured_queries if "dashboard_auditevent" in q["sql"]
    ]
    assert len(audit_queries) == 1
    sql = audit_queries[0].upper()
    assert "LIMIT 51" in sql and "OFFSET" not in sql and "COUNT(" not in sql
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + audit_queries[0])
            plan = " ".join(str(row) for row in cursor.fetchall())
        print(plan)
        assert "USING INDEX" in plan.upper()


# -- CSV -----------------------------------------------------------------------------------------


def test_csv_exports_the_filtered_view_as_a_stream(client: Client, admin: Any, trail: None) -> None:
    client.force_login(admin)
    response = client.get("/audit/export.csv?action=archive")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    exported = csv_rows(response)
    assert [row["detail"] for row in exported] == ["globex archive", "acme archive"]
    assert list(exported[0]) == [
        "time",
        "actor",
        "action",
        "outcome",
        "organization",
        "session",
        "detail",
        "address",
    ]
    assert exported[1]["session"] == "devin-1"
    assert exported[1]["organization"] == "Acme (org-acme)"
    assert datetime.fromisoformat(exported[0]["time"]).tzinfo is not None


def test_csv_respects_what_the_user_may_see(client: Client, viewer: Any, trail: None) -> None:
    client.force_login(viewer)
    exported = csv_rows(client.get("/audit/export.csv"))
    assert {row["detail"] for row in exported if row["detail"]} == {
        "acme archive",
        "acme sync",
        "acme token replaced",
    }


def test_csv_exports_every_page_not_just_one(client: Client, admin: Any) -> None:
    AuditEvent.objects.bulk_create(AuditEvent(action="sync", detail=f"e{n}") for n in range(130))
    client.force_login(admin)
    page = client.get("/audit/?action=sync").content.decode()
    found = re.search(r'href="\?([^"]+)" rel="next"', page)
    assert found and "after=" in found.group(1)
    second_page = found.group(1).replace("&amp;", "&")
    assert len(csv_rows(client.get(f"/audit/export.csv?{second_page}"))) == 130


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("plain text", "plain text"),
        ("a=b", "a=b"),
        (None, ""),
    ],
)
def test_formula_guard(value: Any, expected: str) -> None:
    assert safe_cell(value) == expected


def test_csv_defuses_formulas_from_usernames_and_details(client: Client, admin: Any) -> None:
    event("sign_in", actor_name="=cmd|' /C calc'!A0", outcome="failed", detail="@SUM(1+1)")
    client.force_login(admin)
    row = csv_rows(client.get("/audit/export.csv?outcome=failed"))[0]
    assert row["actor"] == "'=cmd|' /C calc'!A0"
    assert row["detail"] == "'@SUM(1+1)"


# -- append-only -------------------------------------------------------------------------------


def test_events_refuse_changes_and_deletion() -> None:
    e = event("sync", detail="x")
    e.detail = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        e.save()
    with pytest.raises(ValueError, match="append-only"):
        e.delete()
    assert AuditEvent.objects.get(pk=e.pk).detail == "x"


def test_django_admin_shows_events_read_only(client: Client, admin: Any) -> None:
    e = event("sync", detail="kept")
    client.force_login(admin)
    base = "/admin/dashboard/auditevent/"
    listing = client.get(base)
    assert listing.status_code == 200
    assert "kept" in listing.content.decode()
    assert 'value="delete_selected"' not in listing.content.decode()
    change = client.get(f"{base}{e.pk}/change/")
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert client.post(f"{base}{e.pk}/change/", {"detail": "changed"}).status_code == 403
    assert client.get(f"{base}{e.pk}/delete/").status_code == 403
    assert client.post(f"{base}{e.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(
        base, {"action": "delete_selected", "_selected_action": [e.pk]}
    ).status_code in (200, 302)
    assert AuditEvent.objects.get(pk=e.pk).detail == "kept"


def test_no_view_changes_or_deletes_an_event(
    client: Client,
    fake: Any,
    acme: Organization,
    globex: Organization,
    admin: Any,
    operator: Any,
    viewer: Any,
    outsider: Any,
) -> None:
    users = {"admin": admin, "operator": operator, "viewer": viewer, "outsider": outsider}
    world = make_world(fake, acme, globex, users)
    event("archive", actor=operator, org=acme, session_id=world.session.session_id, detail="a")
    event("sign_in", actor_name="viewer", outcome="failed", detail="b")
    event("credential_replaced", actor=admin, org=globex, detail="c")
    # Foreign keys are left out: deleting an org or a user nulls them by design (the event
    # keeps org_label and actor_name).
    fields = ("at", "actor_name", "org_label", "action", "outcome", "session_id", "detail", "ip")
    before = list(AuditEvent.objects.order_by("pk").values_list("pk", *fields))
    # Every POST in the URLconf, as an admin and as an operator; removing an org comes last.
    posts = sorted(
        ((name, route) for name, route in ROUTES.items() if route.post is not None),
        key=lambda item: item[0] == "org_delete",
    )
    for actor in ("operator", "admin"):
        for name, route in posts:
            client.force_login(users[actor])
            client.post(reverse(name, kwargs=route.kwargs(world)), route.data(world))
    after = list(
        AuditEvent.objects.filter(pk__lte=before[-1][0]).order_by("pk").values_list("pk", *fields)
    )
    assert after == before
    assert AuditEvent.objects.count() > len(before)  # the POSTs themselves were audited
