"""The fake Devin API over real HTTP: pagination, filters, auth, actions, faults, control."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakedevin import FakeDevin
from fakedevin.seed import STATUS_COMBOS

NOW = 1_760_000_000  # fixed, so the data is the same on every run
ORG = "org-acme"
SESSIONS = f"/v3/organizations/{ORG}/sessions"
REPO_ROOT = Path(__file__).resolve().parent.parent

Session = dict[str, Any]


@pytest.fixture
def fake() -> Iterator[FakeDevin]:
    with FakeDevin(seed=7, sessions_per_org=250, now=NOW) as server:
        yield server


def api(fake: FakeDevin, org: str = ORG, perm: str = "manage", **kwargs: Any) -> httpx.Client:
    token = fake.tokens[org][perm]
    return httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def walk(
    client: httpx.Client,
    first: int,
    params: dict[str, Any] | None = None,
    between_pages: Callable[[list[Session]], None] | None = None,
) -> list[Session]:
    """Every item of a paginated listing, following end_cursor."""
    items: list[Session] = []
    after = None
    while True:
        query = {**(params or {}), "first": first}
        if after is not None:
            query["after"] = after
        response = client.get(SESSIONS, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= first
        items.extend(page["items"])
        if not page["has_next_page"]:
            assert page["end_cursor"] is None
            return items
        assert page["end_cursor"]
        after = page["end_cursor"]
        if between_pages is not None:
            between_pages(page["items"])


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["instance"] == response.request.url.path
    return body


# -- pagination ------------------------------------------------------------------------


@pytest.mark.parametrize("first", [7, 200])
def test_pagination_walks_every_session_exactly_once_despite_updates(
    fake: FakeDevin, first: int
) -> None:
    expected = {s["session_id"] for s in fake.sessions(ORG)}
    seen_updates = 0

    def churn(page: list[Session]) -> None:
        # Update sessions already seen and not yet seen; the walk must not skip or repeat.
        nonlocal seen_updates
        fake.update_session(ORG, page[0]["session_id"], status_detail="finished")
        later = fake.sessions(ORG)[-1 - seen_updates]["session_id"]
        fake.update_session(ORG, later, title=f"updated {seen_updates}")
        with api(fake) as client:
            client.post(f"{SESSIONS}/{page[-1]['session_id']}/archive").raise_for_status()
        seen_updates += 1

    with api(fake) as client:
        items = walk(client, first, between_pages=churn)
        total = client.get(SESSIONS, params={"first": 1}).json()["total"]

    ids = [s["session_id"] for s in items]
    assert len(ids) == len(set(ids)) == total == 250
    assert set(ids) == expected
    assert seen_updates == -(-250 // first) - 1
    keys = [(-s["created_at"], s["session_id"]) for s in items]
    assert keys == sorted(keys)  # newest first, ties by id


def test_list_defaults_to_100_and_includes_archived(fake: FakeDevin) -> None:
    with api(fake) as client:
        page = client.get(SESSIONS).json()
        every = walk(client, 200)
    assert len(page["items"]) == 100
    assert page["has_next_page"] is True
    assert page["total"] == 250
    assert {s["is_archived"] for s in every} == {True, False}


def test_sessions_created_during_a_walk_do_not_disturb_it(fake: FakeDevin) -> None:
    before = {s["session_id"] for s in fake.sessions(ORG)}

    def create(_: list[Session]) -> None:
        fake.add_session(ORG, title="new")

    with api(fake) as client:
        items = walk(client, 50, between_pages=create)
    assert {s["session_id"] for s in items} == before


# -- filters ---------------------------------------------------------------------------

PIVOT = NOW - 10 * 86_400

FILTERS: list[tuple[dict[str, Any], Callable[[Session], bool]]] = [
    ({"is_archived": "true"}, lambda s: s["is_archived"]),
    ({"is_archived": "false"}, lambda s: not s["is_archived"]),
    ({"updated_after": PIVOT}, lambda s: s["updated_at"] >= PIVOT),
    ({"updated_before": PIVOT}, lambda s: s["updated_at"] < PIVOT),
    ({"created_after": PIVOT}, lambda s: s["created_at"] >= PIVOT),
    ({"created_before": PIVOT}, lambda s: s["created_at"] < PIVOT),
    (
        {"created_after": PIVOT - 5 * 86_400, "created_before": PIVOT},
        lambda s: PIVOT - 5 * 86_400 <= s["created_at"] < PIVOT,
    ),
    ({"tags": ["urgent", "customer"]}, lambda s: bool({"urgent", "customer"} & set(s["tags"]))),
    ({"origins": ["slack", "jira"]}, lambda s: s["origin"] in ("slack", "jira")),
    ({"category": "bug_fixing"}, lambda s: s["category"] == "bug_fixing"),
    (
        {"is_archived": "false", "updated_after": PIVOT, "tags": "backend"},
        lambda s: not s["is_archived"] and s["updated_at"] >= PIVOT and "backend" in s["tags"],
    ),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS, ids=[str(p) for p, _ in FILTERS])
def test_filters(
    fake: FakeDevin, params: dict[str, Any], expected: Callable[[Session], bool]
) -> None:
    wanted = [s["session_id"] for s in fake.sessions(ORG) if expected(s)]
    assert 0 < len(wanted) < 250  # the filter really filters
    with api(fake) as client:
        items = walk(client, 9, params)
        total = client.get(SESSIONS, params={**params, "first": 1}).json()["total"]
    assert [s["session_id"] for s in items] == wanted
    assert total == len(wanted)


def test_filter_bounds_are_inclusive_after_exclusive_before(fake: FakeDevin) -> None:
    pivot = fake.sessions(ORG)[10]
    with api(fake) as client:
        after = walk(client, 200, {"created_after": pivot["created_at"]})
        before = walk(client, 200, {"created_before": pivot["created_at"]})
    assert pivot["session_id"] in {s["session_id"] for s in after}
    assert pivot["session_id"] not in {s["session_id"] for s in before}
    assert len(after) + len(before) == 250  # adjacent windows partition the sessions


def test_session_ids_filter_accepts_repeated_keys_with_or_without_prefix(
    fake: FakeDevin,
) -> None:
    sessions = fake.sessions(ORG)
    chosen = [sessions[3]["session_id"], sessions[100]["session_id"], sessions[200]["session_id"]]
    params = {"session_ids": [chosen[0], chosen[1].removeprefix("devin-"), chosen[2], "devin-0"]}
    with api(fake) as client:
        items = walk(client, 2, params)
    assert [s["session_id"] for s in items] == chosen


def test_updated_after_sees_changes(fake: FakeDevin) -> None:
    newest = max(s["updated_at"] for s in fake.sessions(ORG))
    target = fake.sessions(ORG)[42]
    updated = fake.update_session(ORG, target["session_id"], status_detail="finished")
    assert updated["updated_at"] > target["updated_at"]
    with api(fake) as client:
        page = client.get(SESSIONS, params={"updated_after": newest + 1}).json()
    assert [s["session_id"] for s in page["items"]] == [target["session_id"]]
    assert page["items"][0]["status_detail"] == "finished"


def test_updated_after_lists_a_session_once_however_often_it_changed(fake: FakeDevin) -> None:
    newest = max(s["updated_at"] for s in fake.sessions(ORG))
    first, second = fake.sessions(ORG)[7], fake.sessions(ORG)[70]
    for session_id in (first["session_id"], second["session_id"], first["session_id"]):
        fake.update_session(ORG, session_id, status_detail="finished")
    expected = [s["session_id"] for s in fake.sessions(ORG) if s["updated_at"] > newest]
    with api(fake) as client:
        items = walk(client, 1, {"updated_after": newest + 1, "created_after": PIVOT - 86_400})
        total = client.get(SESSIONS, params={"updated_after": newest + 1}).json()["total"]
    assert (
        [s["session_id"] for s in items] == expected == [first["session_id"], second["session_id"]]
    )
    assert total == 2


# -- single sessions, auth, errors -------------------------------------------------------


def test_get_session_with_or_without_prefix(fake: FakeDevin) -> None:
    session = fake.sessions(ORG)[0]
    with api(fake, perm="view") as client:
        full = client.get(f"{SESSIONS}/{session['session_id']}")
        bare = client.get(f"{SESSIONS}/{session['session_id'].removeprefix('devin-')}")
    assert full.status_code == bare.status_code == 200
    assert full.json() == bare.json() == session == fake.get(ORG, session["session_id"])
    hex_id = session["session_id"].removeprefix("devin-")
    assert session["url"] == f"https://app.devin.ai/sessions/{hex_id}"


def test_unknown_session_is_404(fake: FakeDevin) -> None:
    with api(fake) as client:
        for response in (
            client.get(f"{SESSIONS}/devin-doesnotexist"),
            client.post(f"{SESSIONS}/devin-doesnotexist/archive"),
            client.post(f"{SESSIONS}/devin-doesnotexist/unarchive"),
        ):
            assert "devin-doesnotexist" in assert_problem(response, 404)["detail"]
    assert fake.get(ORG, "devin-doesnotexist") is None


def test_missing_or_unknown_token_is_401(fake: FakeDevin) -> None:
    with httpx.Client(base_url=fake.url) as client:
        responses = [
            client.get("/v3/self"),
            client.get(SESSIONS),
            client.get(SESSIONS, headers={"Authorization": "Bearer cog_" + "x" * 40}),
            client.get(SESSIONS, headers={"Authorization": f"Basic {fake.tokens[ORG]['view']}"}),
        ]
    for response in responses:
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


def test_token_of_another_org_is_403(fake: FakeDevin) -> None:
    with api(fake, org="org-globex") as client:
        body = assert_problem(client.get(SESSIONS), 403)
        session_id = fake.sessions(ORG)[0]["session_id"]
        assert_problem(client.post(f"{SESSIONS}/{session_id}/archive"), 403)
    assert "org-acme" in body["detail"]


def test_view_only_token_reads_but_cannot_archive(fake: FakeDevin) -> None:
    session = next(s for s in fake.sessions(ORG) if not s["is_archived"])
    with api(fake, perm="view") as client:
        assert client.get(SESSIONS).status_code == 200
        for action in ("archive", "unarchive"):
            body = assert_problem(client.post(f"{SESSIONS}/{session['session_id']}/{action}"), 403)
            assert body["detail"] == "The service user lacks the ManageOrgSessions permission"
    assert fake.get(ORG, session["session_id"]) == session


def test_self_identifies_the_service_user(fake: FakeDevin) -> None:
    with api(fake, perm="view") as view, api(fake, org="org-globex") as manage:
        me = view.get("/v3/self").json()
        other = manage.get("/v3/self").json()
    assert me["principal_type"] == "service_user"
    assert me["org_id"] == ORG
    assert other["org_id"] == "org-globex"
    assert me["service_user_id"] != other["service_user_id"]


@pytest.mark.parametrize(
    "params",
    [
        {"first": 0},
        {"first": 500},
        {"first": "ten"},
        {"updated_after": "yesterday"},
        {"created_before": "1.5"},
        {"is_archived": "maybe"},
        {"after": "not-a-cursor"},
        {"category": "astrology"},
        {"origins": "fax"},
    ],
)
def test_invalid_params_are_422(fake: FakeDevin, params: dict[str, Any]) -> None:
    with api(fake) as client:
        body = assert_problem(client.get(SESSIONS, params=params), 422)
    assert body["title"] == "Unprocessable Content"
    assert [error["loc"] for error in body["errors"]] == [["query", next(iter(params))]]


def test_unknown_route_and_method(fake: FakeDevin) -> None:
    with api(fake) as client:
        assert_problem(client.get("/v3/organizations/org-acme/nothing"), 404)
        assert_problem(client.get("/elsewhere"), 404)
        session_id = fake.sessions(ORG)[0]["session_id"]
        response = client.get(f"{SESSIONS}/{session_id}/archive")
        assert_problem(response, 405)
        assert response.headers["allow"] == "POST"


# -- actions ---------------------------------------------------------------------------

NULLED = ("status_detail", "category", "subcategory", "structured_output")


def test_archive_puts_a_running_session_to_sleep_and_unarchive_keeps_it_asleep(
    fake: FakeDevin,
) -> None:
    session = fake.add_session(
        ORG,
        status="running",
        status_detail="working",
        category="bug_fixing",
        subcategory="Flaky test",
        structured_output={"ok": True},
        created_at=NOW - 60,
        updated_at=NOW - 60,
    )
    path = f"{SESSIONS}/{session['session_id']}"
    with api(fake) as client:
        archived = client.post(f"{path}/archive").json()
        after_archive = client.get(path).json()
        unarchived = client.post(f"{path}/unarchive").json()
        after_unarchive = client.get(path).json()

    assert archived["is_archived"] is True
    assert archived["status"] == "suspended"
    assert all(archived[name] is None for name in NULLED)  # as the real API answers
    assert after_archive["status_detail"] == "user_request"  # but GET fills them
    assert after_archive["category"] == "bug_fixing"
    assert after_archive["structured_output"] == {"ok": True}
    assert after_archive["updated_at"] > session["updated_at"]

    assert unarchived["is_archived"] is False
    assert unarchived["status"] == "suspended"
    assert all(unarchived[name] is None for name in NULLED)
    assert after_unarchive["status_detail"] == "user_request"
    assert after_unarchive["subcategory"] == "Flaky test"
    assert after_unarchive["updated_at"] > after_archive["updated_at"]
    assert fake.get(ORG, session["session_id"]) == after_unarchive


@pytest.mark.parametrize(("status", "detail"), [(s, d) for s, d, _ in STATUS_COMBOS])
def test_archive_changes_status_only_for_active_sessions(
    fake: FakeDevin, status: str, detail: str | None
) -> None:
    session = fake.add_session(ORG, status=status, status_detail=detail)
    with api(fake) as client:
        client.post(f"{SESSIONS}/{session['session_id']}/archive").raise_for_status()
    stored = fake.get(ORG, session["session_id"])
    assert stored is not None
    assert stored["is_archived"] is True
    if status in ("new", "claimed", "running", "resuming"):
        assert (stored["status"], stored["status_detail"]) == ("suspended", "user_request")
    else:
        assert (stored["status"], stored["status_detail"]) == (status, detail)


def test_terminate(fake: FakeDevin) -> None:
    session = fake.add_session(ORG)
    with api(fake) as client:
        response = client.delete(f"{SESSIONS}/{session['session_id']}", params={"archive": "true"})
    assert response.json()["status"] == "exit"
    stored = fake.get(ORG, session["session_id"])
    assert stored is not None
    assert (stored["status"], stored["is_archived"]) == ("exit", True)


def test_add_and_update_session_in_process(fake: FakeDevin) -> None:
    session = fake.add_session(ORG, title="Write docs", tags=["docs"], session_id="abc123")
    assert session["session_id"] == "devin-abc123"
    assert session["url"] == "https://app.devin.ai/sessions/abc123"
    assert (session["status"], session["status_detail"]) == ("running", "working")
    updated = fake.update_session(ORG, "abc123", status_detail="finished")
    assert updated["status_detail"] == "finished"
    assert updated["updated_at"] > session["updated_at"]
    with pytest.raises(ValueError, match="unknown session field"):
        fake.update_session(ORG, "abc123", colour="red")
    with pytest.raises(KeyError):
        fake.update_session(ORG, "devin-nope", title="x")
    child = fake.add_session(ORG, parent_session_id="devin-abc123")
    parent = fake.get(ORG, "abc123")
    assert parent is not None
    assert parent["child_session_ids"] == [child["session_id"]]


# -- faults ----------------------------------------------------------------------------


def test_status_fault_applies_to_the_next_n_calls_then_expires(fake: FakeDevin) -> None:
    fake.inject("status", count=2, status=503)
    with api(fake) as client:
        codes = [client.get("/v3/self").status_code for _ in range(3)]
        assert codes == [503, 503, 200]
        fake.inject("status", count=1)
        assert assert_problem(client.get("/v3/self"), 500)["detail"] == "Injected fault"
    assert fake.faults == []


def test_429_with_and_without_retry_after(fake: FakeDevin) -> None:
    fake.inject("429", retry_after=2)
    fake.inject("429")
    with api(fake) as client:
        first, second = client.get(SESSIONS), client.get(SESSIONS)
    assert_problem(first, 429)
    assert first.headers["retry-after"] == "2"
    assert_problem(second, 429)
    assert "retry-after" not in second.headers


def test_fault_filters_on_method_and_path(fake: FakeDevin) -> None:
    session_id = fake.sessions(ORG)[0]["session_id"]
    fake.inject("status", count=None, status=502, method="POST", path="/archive")
    with api(fake) as client:
        for _ in range(3):
            assert client.post(f"{SESSIONS}/{session_id}/archive").status_code == 502
            assert client.get(f"{SESSIONS}/{session_id}").status_code == 200
            assert client.post(f"{SESSIONS}/{session_id}/unarchive").status_code == 200
        assert fake.clear_faults() == 1
        assert client.post(f"{SESSIONS}/{session_id}/archive").status_code == 200


def test_latency_fault_and_global_latency(fake: FakeDevin) -> None:
    with api(fake) as client:
        fake.inject("latency", seconds=0.3)
        started = time.monotonic()
        assert client.get("/v3/self").status_code == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        client.get("/v3/self")
        assert time.monotonic() - started < 0.3
        fake.latency = 0.2
        started = time.monotonic()
        client.get("/v3/self")
        assert time.monotonic() - started >= 0.2


def test_malformed_json_fault(fake: FakeDevin) -> None:
    fake.inject("malformed_json")
    with api(fake) as client:
        response = client.get(SESSIONS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_missing_fields_fault(fake: FakeDevin) -> None:
    fake.inject("missing_fields", count=2)
    with api(fake) as client:
        page = client.get(SESSIONS).json()
        me = client.get("/v3/self").json()
    assert page["items"]
    assert all("status" not in s and "updated_at" not in s for s in page["items"])
    assert "principal_type" not in me


def test_unknown_enum_fault(fake: FakeDevin) -> None:
    session_id = fake.sessions(ORG)[0]["session_id"]
    fake.inject("unknown_enum", path=session_id)
    with api(fake) as client:
        session = client.get(f"{SESSIONS}/{session_id}").json()
    assert session["status"] == "hibernating"
    assert session["status_detail"] == "waiting_for_ci"
    assert session["category"] == "vibe_coding"
    assert session["pull_requests"][-1]["pr_state"] == "superseded"


def test_hostile_fault(fake: FakeDevin) -> None:
    fake.inject("hostile")
    with api(fake) as client:
        items = client.get(SESSIONS, params={"first": 2}).json()["items"]
    assert all("<script>" in s["title"] and len(s["title"]) > 10_000 for s in items)
    assert any("<script>" in tag for tag in items[0]["tags"])
    assert [s["url"].split(":")[0] for s in items] == ["javascript", "data"]
    assert items[0]["pull_requests"][0]["pr_url"] == "javascript:alert(1)"


def test_body_faults_leave_errors_alone(fake: FakeDevin) -> None:
    fake.inject("hostile")
    with api(fake) as client:
        assert_problem(client.get(f"{SESSIONS}/devin-nope"), 404)


def test_drop_fault_closes_the_connection_without_a_response(fake: FakeDevin) -> None:
    fake.inject("drop", path="/v3/self")
    with api(fake) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v3/self")
        assert client.get("/v3/self").status_code == 200


def test_hang_fault_outlasts_the_client_timeout_and_stop_interrupts_it() -> None:
    fake = FakeDevin(seed=7, sessions_per_org=5, now=NOW).start()
    hung = threading.Thread(target=_get_ignoring_errors, args=(fake.url, 5.0))
    try:
        fake.inject("hang", seconds=60)  # capped at 30
        assert fake.faults[0].seconds == 30
        with api(fake, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
            client.get("/v3/self")
        with api(fake, timeout=2) as client:
            assert client.get("/v3/self").status_code == 200  # the server still serves
        fake.inject("hang")
        hung.start()
        deadline = time.monotonic() + 5
        while fake.in_flight < 2 and time.monotonic() < deadline:  # both hangs in progress
            time.sleep(0.01)
        assert fake.in_flight == 2
    finally:
        started = time.monotonic()
        fake.stop()
    assert time.monotonic() - started < 5  # not the 30 s of the hangs
    hung.join()


def _get_ignoring_errors(url: str, timeout: float) -> None:
    with httpx.Client(base_url=url, timeout=timeout) as client, pytest.raises(httpx.HTTPError):
        client.get("/v3/self")


def test_inject_rejects_nonsense(fake: FakeDevin) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        fake.inject("gremlins")
    with pytest.raises(ValueError, match="status"):
        fake.inject("status", status=200)
    with pytest.raises(ValueError, match="unknown fault option"):
        fake.inject("drop", colour="red")
    with pytest.raises(ValueError, match="count"):
        fake.inject("drop", count=0)


# -- control endpoints -----------------------------------------------------------------


def test_control_faults_endpoint(fake: FakeDevin) -> None:
    with api(fake) as client:
        created = client.post(
            "/_fake/faults",
            json={
                "kind": "429",
                "count": 2,
                "method": "get",
                "path": "/sessions",
                "retry_after": 1,
            },
        )
        assert created.status_code == 201
        assert created.json()["fault"]["method"] == "GET"
        listed = client.get("/_fake/faults").json()["faults"]
        assert [(f["kind"], f["count"]) for f in listed] == [("429", 2)]
        assert client.get("/v3/self").status_code == 200
        assert client.get(SESSIONS).headers["retry-after"] == "1"
        assert client.delete("/_fake/faults").json() == {"cleared": 1}
        assert client.get(SESSIONS).status_code == 200
        assert_problem(client.post("/_fake/faults", json={"kind": "nope"}), 422)
        assert_problem(client.post("/_fake/faults", content=b"{"), 400)
        created = client.post(
            "/_fake/faults", json={"kind": "status", "status": 500, "count": None}
        )
        assert created.json()["fault"]["count"] is None


def test_control_stats_and_reset(fake: FakeDevin) -> None:
    with api(fake) as client:
        client.get("/v3/self")
        client.get(SESSIONS, params={"first": 1})
        stats = client.get("/_fake/stats").json()
        assert stats == {"in_flight": 0, "peak_in_flight": 1, "calls": 2}
        assert fake.calls == [("GET", "/v3/self"), ("GET", SESSIONS)]  # control calls excluded
        assert client.post("/_fake/reset-stats").json()["calls"] == 0
    assert fake.calls == []
    assert fake.peak_in_flight == 0


def test_control_sessions_and_tokens(fake: FakeDevin) -> None:
    session_id = fake.sessions(ORG)[5]["session_id"]
    with httpx.Client(base_url=fake.url) as control:
        updated = control.post(
            f"/_fake/sessions/{ORG}/{session_id}",
            json={"status": "running", "status_detail": "finished"},
        )
        assert updated.status_code == 200
        assert updated.json()["status_detail"] == "finished"
        created = control.post(f"/_fake/sessions/{ORG}", json={"title": "From the control API"})
        assert created.status_code == 201
        assert_problem(control.post(f"/_fake/sessions/{ORG}/devin-nope", json={}), 404)
        assert_problem(control.post("/_fake/sessions/org-nope/x", json={}), 404)
        assert_problem(control.post(f"/_fake/sessions/{ORG}/{session_id}", json={"x": 1}), 422)
        assert control.get("/_fake/tokens").json() == fake.tokens
        assert control.post("/_fake/latency", json={"seconds": 0.05}).json() == {"latency": 0.05}
        assert control.get("/").json()["orgs"][0]["org_id"] == ORG
    assert fake.latency == 0.05
    stored = fake.get(ORG, session_id)
    assert stored is not None
    assert stored["status_detail"] == "finished"
    assert fake.get(ORG, created.json()["session_id"]) is not None


# -- HTTP behaviour --------------------------------------------------------------------


def test_keep_alive_and_content_length_on_every_response(fake: FakeDevin) -> None:
    # http.client exposes the socket, so reuse is observable (httpx hides its pool).
    host, port = fake.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.connect()
        sock = connection.sock
        headers = {"Authorization": f"Bearer {fake.tokens[ORG]['view']}"}
        for method, path, status in [
            ("GET", "/v3/self", 200),
            ("GET", SESSIONS, 200),
            ("GET", "/v3/self?x", 200),
            ("GET", f"{SESSIONS}/devin-nope", 404),
            ("POST", f"{SESSIONS}/devin-nope/archive", 403),
            ("GET", "/_fake/stats", 200),
        ]:
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            assert response.status == status
            assert int(response.headers["Content-Length"]) == len(body)
            assert connection.sock is sock  # same connection every time
    finally:
        connection.close()


def test_concurrency_counters_under_parallel_requests(fake: FakeDevin) -> None:
    fake.latency = 0.5
    parallel = 6
    with api(fake, limits=httpx.Limits(max_connections=parallel)) as client:
        with ThreadPoolExecutor(parallel) as pool:
            codes = list(pool.map(lambda _: client.get("/v3/self").status_code, range(parallel)))
        assert codes == [200] * parallel
        assert fake.in_flight == 0
        assert fake.peak_in_flight == parallel
        assert len(fake.calls) == parallel
        assert client.get("/_fake/stats").json()["peak_in_flight"] == parallel
    fake.reset_stats()
    assert (fake.peak_in_flight, fake.calls) == (0, [])


# -- data ------------------------------------------------------------------------------


def test_same_seed_same_data_different_seed_different_data() -> None:
    one = FakeDevin(seed=11, sessions_per_org=80, now=NOW)
    two = FakeDevin(seed=11, sessions_per_org=80, now=NOW)
    other = FakeDevin(seed=12, sessions_per_org=80, now=NOW)
    assert one.tokens == two.tokens
    assert all(one.sessions(org) == two.sessions(org) for org in one.orgs)
    assert one.tokens != other.tokens
    assert one.sessions(ORG) != other.sessions(ORG)


def test_seeded_data_looks_real(fake: FakeDevin) -> None:
    assert {"org-acme", "org-globex"} <= set(fake.orgs)
    assert fake.org_names["org-acme"] == "Acme"
    assert fake.org_names["org-globex"] == "Globex"
    tokens = [token for kinds in fake.tokens.values() for token in kinds.values()]
    assert len(set(tokens)) == 2 * len(fake.orgs)
    assert all(re.fullmatch(r"cog_[A-Za-z0-9]{40}", token) for token in tokens)

    sessions = fake.sessions(ORG)
    assert len(sessions) == 250
    combos = {(s["status"], s["status_detail"]) for s in sessions}
    assert combos == {(status, detail) for status, detail, _ in STATUS_COMBOS}
    assert all(NOW - 43 * 86_400 <= s["created_at"] <= s["updated_at"] <= NOW for s in sessions)
    assert all(re.fullmatch(r"devin-[0-9a-f]{32}", s["session_id"]) for s in sessions)
    assert any(s["parent_session_id"] for s in sessions)
    pr_urls = [pr["pr_url"] for s in sessions for pr in s["pull_requests"]]
    assert all(re.fullmatch(r"https://github\.com/acme/[a-z-]+/pull/\d+", url) for url in pr_urls)
    assert {pr["pr_state"] for s in sessions for pr in s["pull_requests"]} == {
        "open",
        "draft",
        "merged",
        "closed",
        None,
    }
    assert not any(s["is_archived"] and s["status"] == "running" for s in sessions)


def test_add_token_and_unknown_org(fake: FakeDevin) -> None:
    fake.add_token("org-umbrella", "cog_" + "u" * 40, {"view"})
    assert fake.tokens["org-umbrella"]["view"] == "cog_" + "u" * 40
    assert fake.tokens["org-umbrella"]["manage"].startswith("cog_")  # a new org gets both
    with api(fake, org="org-umbrella", perm="view") as client:
        page = client.get("/v3/organizations/org-umbrella/sessions").json()
    assert page == {"items": [], "end_cursor": None, "has_next_page": False, "total": 0}


def test_100k_sessions_generate_and_paginate_quickly() -> None:
    started = time.monotonic()
    fake = FakeDevin(seed=1, sessions_per_org=100_000, orgs=[ORG])
    assert time.monotonic() - started < 15  # ~1.5 s on a laptop-class core
    with fake, api(fake, perm="view") as client:
        started = time.monotonic()
        items = walk(client, 200, {"is_archived": "false"})
        elapsed = time.monotonic() - started
        unarchived = client.get(SESSIONS, params={"is_archived": "false", "first": 1})
        everything = client.get(SESSIONS, params={"first": 1})
    assert len({s["session_id"] for s in items}) == len(items) == unarchived.json()["total"]
    assert 80_000 < len(items) < everything.json()["total"] == 100_000
    assert elapsed < 30  # the benchmark's budget is 60 s for 500 pages


# -- CLI -------------------------------------------------------------------------------


def test_cli_help_mentions_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fakedevin", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--seed", "--sessions", "--latency", "--token", "--verbose"):
        assert option in result.stdout


def test_cli_serves_and_stops_on_sigterm() -> None:
    token = "cog_" + "c" * 40
    command = [
        sys.executable,
        "-m",
        "fakedevin",
        "--port=0",
        "--sessions=3",
        f"--token=org-acme:view:{token}",
        "--fault=429:retry_after=1",
    ]
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as process:
        watchdog = threading.Timer(60, process.kill)  # never let a broken CLI hang the suite
        watchdog.start()
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+", banner)
            assert url, banner
            with httpx.Client(
                base_url=url[0], headers={"Authorization": f"Bearer {token}"}
            ) as client:
                assert client.get("/v3/self").status_code == 429
                assert client.get("/v3/self").json()["org_id"] == "org-acme"
            process.send_signal(signal.SIGTERM)
            output = process.stdout.read()
            assert process.wait() == 0
        finally:
            watchdog.cancel()
    assert token in output
    assert "stopped." in output


def test_long_strings_fault(fake: FakeDevin) -> None:
    fake.inject("long_strings")
    with api(fake) as client:
        [session] = client.get(SESSIONS, params={"first": 1}).json()["items"]
    for name in ("status", "subcategory", "origin", "url", "user_id", "devin_mode"):
        assert len(session[name]) >= 10_000, name
    assert session["title"].startswith("poison\u0000")
    assert [len(pr["pr_state"]) for pr in session["pull_requests"]] == [10_000, 4, 10_000, 6]


def test_odd_ids_and_odd_times_faults(fake: FakeDevin) -> None:
    fake.inject("odd_ids")
    fake.inject("odd_times")
    with api(fake) as client:
        ids = [s["session_id"] for s in client.get(SESSIONS, params={"first": 5}).json()["items"]]
        times = client.get(SESSIONS, params={"first": 5}).json()["items"]
    assert ids[0] == "devin-a b~0" and ids[1] == "devin-ä/ß?#%&=+~1"
    assert ids[2].startswith("no-prefix")
    assert [s["created_at"] for s in times] == [
        0,
        -1,
        -946_080_000,
        4_102_444_800,
        1_700_000_000_123,
    ]


def test_bad_item_fault_and_unreadable_body_fault(fake: FakeDevin) -> None:
    fake.inject("bad_item")
    fake.inject("unreadable_body")
    with api(fake) as client:
        items = client.get(SESSIONS, params={"first": 3}).json()["items"]
        unreadable = client.get(SESSIONS)
    assert [s["created_at"] == "yesterday" for s in items] == [False, True, False]
    assert unreadable.status_code == 200
    with pytest.raises(UnicodeDecodeError):
        unreadable.content.decode()


def test_other_session_and_other_org_faults_answer_about_someone_else(fake: FakeDevin) -> None:
    session_id = fake.sessions(ORG)[0]["session_id"]
    fake.inject("other_session", method="POST")
    fake.inject("other_org", method="POST")
    with api(fake) as client:
        one = client.post(f"{SESSIONS}/{session_id}/archive").json()
        # The action itself was applied, to the session asked for.
        assert (fake.get(ORG, session_id) or {})["is_archived"] is True
        two = client.post(f"{SESSIONS}/{session_id}/unarchive").json()
        assert (fake.get(ORG, session_id) or {})["is_archived"] is False
    assert (one["session_id"], one["org_id"]) == ("devin-not-the-one-asked-for", ORG)
    assert (two["session_id"], two["org_id"]) == ("devin-not-the-one-asked-for", "org-someone-else")
