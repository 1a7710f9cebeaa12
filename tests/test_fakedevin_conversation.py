"""The fake Devin API's messages, tags and attachments over real HTTP: paging, the seeded
conversations, sending, tags, auth, bad input, faults and the control endpoints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from fakedevin import FakeDevin
from fakedevin.chat import HOSTILE_MESSAGES, HUGE_MESSAGE_CHARS, LONG_MESSAGES

NOW = 1_760_000_000
ORG = "org-acme"
SESSIONS = f"/v3/organizations/{ORG}/sessions"


@pytest.fixture
def fake() -> Iterator[FakeDevin]:
    with FakeDevin(seed=7, sessions_per_org=250, now=NOW) as server:
        yield server


def api(fake: FakeDevin, org: str = ORG, perm: str = "manage") -> httpx.Client:
    token = fake.tokens[org][perm]
    return httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {token}"})


def walk_messages(client: httpx.Client, session_id: str, first: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"first": first}
        if after is not None:
            params["after"] = after
        response = client.get(f"{SESSIONS}/{session_id}/messages", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= first
        assert page["total"] >= len(items) + len(page["items"])
        items.extend(page["items"])
        if not page["has_next_page"]:
            assert page["end_cursor"] is None
            return items
        after = page["end_cursor"]


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def stored(fake: FakeDevin, session_id: str) -> dict[str, Any]:
    session = fake.get(ORG, session_id)
    assert session is not None
    return session


def session_with(fake: FakeDevin, **fields: Any) -> str:
    return str(fake.add_session(ORG, **fields)["session_id"])


# -- the seeded conversations ----------------------------------------------------------


@pytest.mark.parametrize("first", [13, 200])
def test_paging_walks_the_long_conversation_oldest_first_exactly_once(
    fake: FakeDevin, first: int
) -> None:
    session_id = fake.featured[ORG]["long"]
    with api(fake) as client:
        items = walk_messages(client, session_id, first)
    assert len(items) == len({m["event_id"] for m in items}) == LONG_MESSAGES
    assert items == fake.messages(ORG, session_id)
    times = [m["created_at"] for m in items]
    assert times == sorted(times)
    session = fake.get(ORG, session_id)
    assert session is not None
    assert session["created_at"] <= times[0] and times[-1] <= session["updated_at"]
    assert {m["source"] for m in items} == {"user", "devin"}
    assert sum("```" in m["message"] for m in items) >= 40  # code blocks now and then


def test_default_page_is_100_and_total_counts_everything(fake: FakeDevin) -> None:
    session_id = fake.featured[ORG]["long"]
    with api(fake) as client:
        page = client.get(f"{SESSIONS}/{session_id}/messages").json()
    assert (len(page["items"]), page["total"], page["has_next_page"]) == (100, LONG_MESSAGES, True)


def test_every_org_has_three_distinct_made_to_order_conversations() -> None:
    with FakeDevin(seed=3, sessions_per_org=3, now=NOW) as small:
        for org, chosen in small.featured.items():
            assert set(chosen) == {"long", "huge", "hostile"}
            assert len(set(chosen.values())) == 3
            assert len(small.messages(org, chosen["long"])) == LONG_MESSAGES


def test_the_huge_conversation_has_a_message_over_one_mebibyte(fake: FakeDevin) -> None:
    session_id = fake.featured[ORG]["huge"]
    with api(fake) as client:
        response = client.get(f"{SESSIONS}/{session_id}/messages")
    sizes = [len(m["message"]) for m in response.json()["items"]]
    assert max(sizes) >= HUGE_MESSAGE_CHARS > 1_048_576
    assert sorted(sizes)[-2] < 1_000  # the others are ordinary
    assert stored(fake, session_id)["status"] in ("exit", "suspended", "error")


def test_the_hostile_conversation_and_attachments(fake: FakeDevin) -> None:
    session_id = fake.featured[ORG]["hostile"]
    with api(fake) as client:
        messages = client.get(f"{SESSIONS}/{session_id}/messages").json()["items"]
        attachments = client.get(f"{SESSIONS}/{session_id}/attachments").json()
    texts = [m["message"] for m in messages]
    assert texts == [text for _, text in HOSTILE_MESSAGES]
    joined = "\n".join(texts)
    for needle in ("<script>", "javascript:alert", "onerror=", "data:text/html", "\x00", "{{"):
        assert needle in joined
    assert any(len(text) >= 20_000 and " " not in text for text in texts)
    urls = [a["url"] for a in attachments]
    assert [url.split(":")[0] for url in urls] == ["javascript", "data", "https"]
    assert "<script>" in attachments[0]["name"]


def test_ordinary_conversations_fit_their_sessions(fake: FakeDevin) -> None:
    featured = set(fake.featured[ORG].values())
    sessions = [s for s in fake.sessions(ORG) if s["session_id"] not in featured]
    conversations = {s["session_id"]: fake.messages(ORG, s["session_id"]) for s in sessions}
    for session in sessions:
        messages = conversations[session["session_id"]]
        assert messages[0]["source"] == "user"
        assert all(re.fullmatch(r"event-[0-9a-f]{24}", m["event_id"]) for m in messages)
        if session["status"] in ("new", "claimed"):
            assert len(messages) == 1
        elif session["status_detail"] == "waiting_for_user":
            assert messages[-1]["source"] == "devin" and messages[-1]["message"].endswith("?")
        elif session["status_detail"] == "finished" and session["pull_requests"]:
            assert session["pull_requests"][0]["pr_url"] in messages[-1]["message"]
    everything = [m["message"] for ms in conversations.values() for m in ms]
    assert any("```" in text for text in everything)
    assert any(len(text) > 1_500 for text in everything)  # some long plans
    assert any("<img src=x onerror" in text or "<script>" in text for text in everything)
    with_files = [fake.attachments(ORG, s["session_id"]) for s in sessions]
    assert 0.1 < sum(bool(files) for files in with_files) / len(sessions) < 0.35
    assert {a["source"] for files in with_files for a in files} == {"user", "devin"}


def test_conversations_are_the_same_for_the_same_seed() -> None:
    one, two, other = (FakeDevin(seed=s, sessions_per_org=20, now=NOW) for s in (4, 4, 5))
    ids = [s["session_id"] for s in one.sessions(ORG)]
    assert [one.messages(ORG, i) for i in ids] == [two.messages(ORG, i) for i in ids]
    assert [one.attachments(ORG, i) for i in ids] == [two.attachments(ORG, i) for i in ids]
    other_ids = [s["session_id"] for s in other.sessions(ORG)]
    assert [one.messages(ORG, i) for i in ids] != [other.messages(ORG, i) for i in other_ids]


def test_an_added_session_starts_without_messages(fake: FakeDevin) -> None:
    session_id = session_with(fake)
    with api(fake) as client:
        page = client.get(f"{SESSIONS}/{session_id}/messages").json()
        files = client.get(f"{SESSIONS}/{session_id}/attachments").json()
    assert page == {"items": [], "end_cursor": None, "has_next_page": False, "total": 0}
    assert files == []


# -- sending ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "detail", "after"),
    [
        ("running", "waiting_for_user", ("running", "working")),
        ("running", "finished", ("running", "working")),
        ("suspended", "inactivity", ("running", "working")),
        ("suspended", "user_request", ("running", "working")),
        ("new", None, ("new", None)),
        ("resuming", None, ("resuming", None)),
    ],
)
def test_a_sent_message_is_listed_last_and_wakes_the_session(
    fake: FakeDevin, status: str, detail: str | None, after: tuple[str, str | None]
) -> None:
    session_id = session_with(fake, status=status, status_detail=detail, category="bug_fixing")
    before = fake.get(ORG, session_id)
    assert before is not None
    with api(fake) as client:
        response = client.post(f"{SESSIONS}/{session_id}/messages", json={"message": "Go ahead."})
        listed = client.get(f"{SESSIONS}/{session_id}/messages").json()["items"]
        got = client.get(f"{SESSIONS}/{session_id}").json()
        changed = client.get(SESSIONS, params={"updated_after": got["updated_at"]}).json()
    answered = response.json()
    assert response.status_code == 200
    assert answered["status"] == after[0]
    assert answered["status_detail"] is answered["category"] is None  # like every action
    assert (got["status"], got["status_detail"], got["category"]) == (*after, "bug_fixing")
    assert got["updated_at"] > before["updated_at"]
    assert session_id in [s["session_id"] for s in changed["items"]]
    assert [(m["source"], m["message"]) for m in listed] == [("user", "Go ahead.")]


@pytest.mark.parametrize("status", ["exit", "error"])
def test_a_session_that_ended_refuses_messages_and_stays_as_it_was(
    fake: FakeDevin, status: str
) -> None:
    session_id = session_with(fake, status=status, status_detail=None)
    before = fake.get(ORG, session_id)
    with api(fake) as client:
        body = problem_of(
            client.post(f"{SESSIONS}/{session_id}/messages", json={"message": "hello?"}), 409
        )
    assert status in body["detail"]
    assert fake.get(ORG, session_id) == before
    assert fake.messages(ORG, session_id) == []


def test_terminate_then_message_is_409_and_terminate_keeps_the_conversation(
    fake: FakeDevin,
) -> None:
    session_id = fake.featured[ORG]["long"]
    with api(fake) as client:
        ended = client.delete(f"{SESSIONS}/{session_id}")
        refused = client.post(f"{SESSIONS}/{session_id}/messages", json={"message": "wait"})
        total = client.get(f"{SESSIONS}/{session_id}/messages").json()["total"]
    assert (ended.json()["status"], ended.json()["is_archived"]) == ("exit", False)
    problem_of(refused, 409)
    assert total == LONG_MESSAGES


def test_a_message_after_the_seeded_ones_continues_the_same_walk(fake: FakeDevin) -> None:
    session_id = fake.featured[ORG]["long"]
    with api(fake) as client:
        pages = [client.get(f"{SESSIONS}/{session_id}/messages", params={"first": 200}).json()]
        while pages[-1]["has_next_page"]:
            cursor = pages[-1]["end_cursor"]
            if len(pages) == 9:
                client.post(f"{SESSIONS}/{session_id}/messages", json={"message": "new"})
            params = {"first": 200, "after": cursor}
            pages.append(client.get(f"{SESSIONS}/{session_id}/messages", params=params).json())
    items = [m for page in pages for m in page["items"]]
    assert len(items) == LONG_MESSAGES + 1
    assert items[-1]["message"] == "new"
    assert items[-1]["created_at"] >= items[-2]["created_at"]


def test_attachment_urls_become_the_users_attachments(fake: FakeDevin) -> None:
    session_id = session_with(fake)
    urls = ["https://files.example.com/logs/crash%20report.txt", "https://x.example/a/"]
    with api(fake) as client:
        client.post(
            f"{SESSIONS}/{session_id}/messages",
            json={"message": "see attached", "attachment_urls": urls, "message_as_user_id": None},
        ).raise_for_status()
        files = client.get(f"{SESSIONS}/{session_id}/attachments").json()
    assert [(f["name"], f["url"], f["source"]) for f in files] == [
        ("crash report.txt", urls[0], "user"),
        ("a", urls[1], "user"),
    ]


def test_parallel_messages_are_each_stored_once(fake: FakeDevin) -> None:
    session_id = session_with(fake)
    with api(fake) as client, ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda n: (
                    client.post(
                        f"{SESSIONS}/{session_id}/messages", json={"message": f"m{n}"}
                    ).status_code
                ),
                range(40),
            )
        )
    assert codes == [200] * 40
    assert sorted(m["message"] for m in fake.messages(ORG, session_id)) == sorted(
        f"m{n}" for n in range(40)
    )


# -- tags ------------------------------------------------------------------------------


def test_append_deduplicates_replace_replaces_and_list_and_get_see_it(fake: FakeDevin) -> None:
    session_id = session_with(fake, tags=["backend"])
    path = f"{SESSIONS}/{session_id}/tags"
    with api(fake) as client:
        assert client.get(path).json() == {"tags": ["backend"]}
        appended = client.post(path, json={"tags": ["urgent", "backend", "urgent", "<b>x</b>"]})
        assert appended.json() == {"tags": ["backend", "urgent", "<b>x</b>"]}
        assert client.get(f"{SESSIONS}/{session_id}").json()["tags"] == appended.json()["tags"]
        replaced = client.put(path, json={"tags": ["docs", "docs", "infra"]})
        assert replaced.json() == {"tags": ["docs", "infra"]}
        tagged = client.get(SESSIONS, params={"tags": "docs", "session_ids": session_id})
        untagged = client.get(SESSIONS, params={"tags": "urgent", "session_ids": session_id})
        emptied = client.put(path, json={"tags": []})
    assert [s["tags"] for s in tagged.json()["items"]] == [["docs", "infra"]]
    assert untagged.json()["items"] == []
    assert emptied.json() == {"tags": []}
    assert stored(fake, session_id)["tags"] == []


def test_a_tag_change_bumps_updated_at(fake: FakeDevin) -> None:
    session_id = session_with(fake)
    before = stored(fake, session_id)["updated_at"]
    with api(fake) as client:
        client.post(f"{SESSIONS}/{session_id}/tags", json={"tags": ["ci"]}).raise_for_status()
    assert stored(fake, session_id)["updated_at"] > before


# -- auth, routing and bad input -------------------------------------------------------

PARTS = [("GET", "messages"), ("POST", "messages"), ("GET", "tags"), ("POST", "tags")]
PARTS += [("PUT", "tags"), ("GET", "attachments")]
BODIES = {"messages": {"message": "hi"}, "tags": {"tags": ["x"]}, "attachments": None}


def _call(client: httpx.Client, method: str, url: str, part: str) -> httpx.Response:
    body = BODIES[part] if method != "GET" else None
    return client.request(method, url, json=body)


@pytest.mark.parametrize(("method", "part"), PARTS)
def test_who_may_do_what(fake: FakeDevin, method: str, part: str) -> None:
    session_id = session_with(fake)
    url = f"{SESSIONS}/{session_id}/{part}"
    with api(fake, perm="view") as viewer, api(fake, org="org-globex") as other:
        as_viewer = _call(viewer, method, url, part)
        as_other = _call(other, method, url, part)
        anonymous = httpx.request(method, fake.url + url, json=BODIES[part])
    if method == "GET":
        assert as_viewer.status_code == 200
    else:
        assert "ManageOrgSessions" in problem_of(as_viewer, 403)["detail"]
    assert "organization" in problem_of(as_other, 403)["detail"]
    problem_of(anonymous, 401)
    assert fake.messages(ORG, session_id) == [] and stored(fake, session_id)["tags"] == []


@pytest.mark.parametrize(("method", "part"), PARTS)
def test_unknown_session_is_404(fake: FakeDevin, method: str, part: str) -> None:
    with api(fake) as client:
        body = problem_of(_call(client, method, f"{SESSIONS}/devin-nope/{part}", part), 404)
    assert body["detail"] == "Session devin-nope not found"


@pytest.mark.parametrize(
    ("method", "part", "allow"),
    [("DELETE", "messages", "GET, POST"), ("PATCH", "tags", "GET, POST, PUT")]
    + [("POST", "attachments", "GET")],
)
def test_other_methods_are_405(fake: FakeDevin, method: str, part: str, allow: str) -> None:
    session_id = fake.sessions(ORG)[0]["session_id"]
    with api(fake) as client:
        response = client.request(method, f"{SESSIONS}/{session_id}/{part}")
    problem_of(response, 405)
    assert response.headers["allow"] == allow


REFUSED_MESSAGES: list[tuple[bytes, list[str | int]]] = [
    (b"{not json", ["body"]),
    (b"[1]", ["body"]),
    (b"", ["body"]),
    (b"{}", ["body", "message"]),
    (b'{"message": 7}', ["body", "message"]),
    (b'{"message": "x", "message_as_user_id": 7}', ["body", "message_as_user_id"]),
    (b'{"message": "x", "attachment_urls": "a"}', ["body", "attachment_urls"]),
    (b'{"message": "x", "attachment_urls": ["no url"]}', ["body", "attachment_urls", 0]),
]
REFUSED_TAGS: list[tuple[bytes, list[str | int]]] = [
    (b"{}", ["body", "tags"]),
    (b'{"tags": "urgent"}', ["body", "tags"]),
    (b'{"tags": ["ok", null]}', ["body", "tags", 1]),
    (json.dumps({"tags": [f"t{n}" for n in range(51)]}).encode(), ["body", "tags"]),
]
REFUSED = [("POST", "messages", body, loc) for body, loc in REFUSED_MESSAGES] + [
    (method, "tags", body, loc) for method in ("POST", "PUT") for body, loc in REFUSED_TAGS
]


@pytest.mark.parametrize(("method", "part", "body", "loc"), REFUSED)
def test_bodies_the_spec_refuses_are_422_and_change_nothing(
    fake: FakeDevin, method: str, part: str, body: bytes, loc: list[str | int]
) -> None:
    session_id = session_with(fake, status="suspended", status_detail="inactivity", tags=["a"])
    before = fake.get(ORG, session_id)
    with api(fake) as client:
        response = client.request(
            method,
            f"{SESSIONS}/{session_id}/{part}",
            content=body,
            headers={"content-type": "application/json"},
        )
    errors = problem_of(response, 422)["errors"]
    assert [error["loc"] for error in errors] == [loc]
    assert fake.get(ORG, session_id) == before
    assert fake.messages(ORG, session_id) == []


@pytest.mark.parametrize(
    "query",
    ["first=0", "first=201", "first=many", "after=garbage", "after=MXxldmVudC14"],
)
def test_bad_page_params_are_422(fake: FakeDevin, query: str) -> None:
    session_id = fake.featured[ORG]["long"]
    with api(fake) as client:
        errors = problem_of(client.get(f"{SESSIONS}/{session_id}/messages?{query}"), 422)["errors"]
    assert [error["loc"] for error in errors] == [["query", query.split("=")[0]]]


def test_a_cursor_of_another_session_is_422(fake: FakeDevin) -> None:
    long, hostile = fake.featured[ORG]["long"], fake.featured[ORG]["hostile"]
    with api(fake) as client:
        cursor = client.get(f"{SESSIONS}/{long}/messages", params={"first": 1}).json()["end_cursor"]
        response = client.get(f"{SESSIONS}/{hostile}/messages", params={"after": cursor})
    problem_of(response, 422)


# -- faults ----------------------------------------------------------------------------


def test_status_faults_filter_on_the_new_paths(fake: FakeDevin) -> None:
    session_id = fake.sessions(ORG)[0]["session_id"]
    fake.inject("status", count=None, status=503, method="POST", path="/messages")
    with api(fake) as client:
        assert (
            client.post(f"{SESSIONS}/{session_id}/messages", json={"message": "x"}).status_code
            == 503
        )
        assert client.get(f"{SESSIONS}/{session_id}/messages").status_code == 200
        assert client.post(f"{SESSIONS}/{session_id}/tags", json={"tags": ["x"]}).status_code == 200
        fake.clear_faults()
        fake.inject("429", retry_after="2", path="/attachments")
        limited = client.get(f"{SESSIONS}/{session_id}/attachments")
        fake.inject("drop", method="PUT", path="/tags")
        with pytest.raises(httpx.RemoteProtocolError):
            client.put(f"{SESSIONS}/{session_id}/tags", json={"tags": []})
    assert fake.messages(ORG, session_id)[-1]["message"] != "x"  # the 503 changed nothing
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")


@pytest.mark.parametrize("part", ["messages", "attachments", "tags"])
def test_malformed_json_fault(fake: FakeDevin, part: str) -> None:
    session_id = fake.featured[ORG]["hostile"]
    fake.inject("malformed_json", path=f"/{part}")
    with api(fake) as client:
        response = client.get(f"{SESSIONS}/{session_id}/{part}")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_missing_fields_fault(fake: FakeDevin) -> None:
    session_id = fake.featured[ORG]["hostile"]
    empty = session_with(fake)
    fake.inject("missing_fields", count=4)
    with api(fake) as client:
        page = client.get(f"{SESSIONS}/{session_id}/messages").json()
        files = client.get(f"{SESSIONS}/{session_id}/attachments").json()
        no_files = client.get(f"{SESSIONS}/{empty}/attachments").json()
        tags = client.get(f"{SESSIONS}/{session_id}/tags").json()
    assert page["items"] and all(
        "message" not in m and "created_at" not in m for m in page["items"]
    )
    assert files and all("url" not in f and "source" not in f for f in files)
    assert no_files == [{}]
    assert tags == {}
    assert fake.messages(ORG, session_id)[0]["message"]  # the stored data is intact


def test_unknown_enum_fault(fake: FakeDevin) -> None:
    session_id = fake.featured[ORG]["hostile"]
    fake.inject("unknown_enum", count=3)
    with api(fake) as client:
        page = client.get(f"{SESSIONS}/{session_id}/messages").json()
        files = client.get(f"{SESSIONS}/{session_id}/attachments").json()
        tags = client.get(f"{SESSIONS}/{session_id}/tags")
    assert {m["source"] for m in page["items"]} == {"devin_subagent"}
    assert {f["source"] for f in files} == {"slack_bot"}
    assert tags.status_code == 200


def test_hostile_fault(fake: FakeDevin) -> None:
    session_id = session_with(fake)
    fake.add_message(ORG, session_id, "plain")
    fake.inject("hostile", count=3)
    with api(fake) as client:
        page = client.get(f"{SESSIONS}/{session_id}/messages").json()
        files = client.get(f"{SESSIONS}/{session_id}/attachments").json()
        tags = client.get(f"{SESSIONS}/{session_id}/tags").json()
    assert "<script>" in page["items"][0]["message"]
    assert {f["url"].split(":")[0] for f in files} == {"javascript", "data", "https"}
    assert any(len(f["url"]) > 5_000 for f in files)
    assert any("<script>" in tag for tag in tags["tags"])


def test_body_faults_apply_to_a_sent_messages_answer(fake: FakeDevin) -> None:
    session_id = session_with(fake)
    fake.inject("unknown_enum", method="POST", path="/messages")
    with api(fake) as client:
        answer = client.post(f"{SESSIONS}/{session_id}/messages", json={"message": "x"}).json()
    assert answer["status"] == "hibernating"
    assert fake.messages(ORG, session_id)[-1]["message"] == "x"  # it was sent all the same


# -- control endpoints -----------------------------------------------------------------


def test_control_conversations_and_messages(fake: FakeDevin) -> None:
    session_id = session_with(fake, status="running", status_detail="waiting_for_user")
    before = fake.get(ORG, session_id)
    with httpx.Client(base_url=fake.url) as control:
        assert control.get("/_fake/conversations").json() == fake.featured
        said = control.post(
            f"/_fake/sessions/{ORG}/{session_id}/messages", json={"message": "Which branch?"}
        )
        unknown = control.post(f"/_fake/sessions/{ORG}/devin-nope/messages", json={"message": ""})
        bad = control.post(
            f"/_fake/sessions/{ORG}/{session_id}/messages", json={"message": "x", "source": "bot"}
        )
        index = control.get("/").json()
    assert said.status_code == 201
    assert (said.json()["source"], said.json()["message"]) == ("devin", "Which branch?")
    after = fake.get(ORG, session_id)
    assert before is not None and after is not None
    assert after["status_detail"] == "waiting_for_user"  # the status stays
    assert after["updated_at"] > before["updated_at"]
    assert unknown.status_code == 404
    assert bad.status_code == 422
    assert "GET /_fake/conversations" in index["control"]
    assert "GET|POST|PUT /v3/organizations/{org_id}/sessions/{devin_id}/tags" in index["api"]
