"""dashboard.devin.DevinClient against httpx.MockTransport: the requests it sends, what each
endpoint returns, paging, configuration, and the token's secrecy.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from django.views.debug import ExceptionReporter

import dashboard
from dashboard import wording
from dashboard.devin import (
    BadResponse,
    DevinClient,
    DevinError,
    Kind,
    Session,
    SessionQuery,
    transport,
)
from tests.devin_api import (
    BASE,
    ORG,
    SESSION_PATH,
    TOKEN,
    UNUSED_HTTP,
    FakeApi,
    Outcome,
    assert_no_token,
    misconfigured,
    page_json,
    problem,
    rate_limited,
    session_json,
)

# --- the request ------------------------------------------------------------------------------


def test_request_carries_bearer_token_user_agent_and_timeouts(settings: Any) -> None:
    settings.DEVIN_CONNECT_TIMEOUT = 1.5
    settings.DEVIN_READ_TIMEOUT = 7.0
    api = FakeApi(httpx.Response(200, json=session_json()))

    api.client().get_session("abc123")

    (request,) = api.requests
    assert request.method == "GET"
    assert str(request.url) == BASE + SESSION_PATH
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["user-agent"] == f"devin-sessions-dashboard/{dashboard.__version__}"
    assert request.extensions["timeout"] == {"connect": 1.5, "read": 7.0, "write": 7.0, "pool": 7.0}


def test_timeouts_and_budget_default_when_settings_do_not_name_them(settings: Any) -> None:
    for name in ("DEVIN_CONNECT_TIMEOUT", "DEVIN_READ_TIMEOUT", "DEVIN_RETRY_BUDGET"):
        if hasattr(settings, name):
            delattr(settings, name)
    api = FakeApi(httpx.Response(503), httpx.Response(200, json=session_json()))

    api.client().get_session("devin-abc123")

    assert api.requests[0].extensions["timeout"] == {
        "connect": 5.0,
        "read": 20.0,
        "write": 20.0,
        "pool": 20.0,
    }
    assert len(api.sleeps) == 1
    assert 0 <= api.sleeps[0] <= 10.0


def test_base_url_trailing_slash_and_path_prefix_are_kept_clean() -> None:
    api = FakeApi(httpx.Response(200, json=session_json()))
    client = DevinClient(
        base_url="https://devin.example.com/proxy/",
        org_id=ORG,
        token=TOKEN,
        http=httpx.Client(transport=httpx.MockTransport(api.handler)),
    )

    client.archive_session("abc123")

    assert api.requests[0].method == "POST"
    assert str(api.requests[0].url) == f"https://devin.example.com/proxy{SESSION_PATH}/archive"


def test_clients_without_http_share_one_pool() -> None:
    first = DevinClient(base_url=BASE, org_id=ORG, token=TOKEN)
    second = DevinClient(base_url="https://other.test", org_id="org-2", token=TOKEN + "y")

    assert first._transport.http is second._transport.http
    assert isinstance(first._transport.http, httpx.Client)


def test_shared_client_is_created_once_under_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_shared_http", None)
    barrier = threading.Barrier(8)
    made: list[httpx.Client] = []

    def grab() -> None:
        barrier.wait()
        made.append(transport.shared_client())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(made) == 8
    assert len({id(client) for client in made}) == 1
    made[0].close()


# --- whoami -----------------------------------------------------------------------------------


def test_whoami_service_user_with_null_org() -> None:
    body = {
        "principal_type": "service_user",
        "service_user_id": "su-1",
        "service_user_name": "dashboard",
        "org_id": None,
    }
    api = FakeApi(httpx.Response(200, json=body))

    identity = api.client().whoami()

    assert api.requests[0].url.path == "/v3/self"
    assert identity.kind == "service_user"
    assert identity.org_id is None
    assert identity.service_user_id == "su-1"
    assert identity.name == "dashboard"
    assert identity.raw == body


def test_whoami_pat_user_and_unknown_kind() -> None:
    pat = {
        "principal_type": "pat_user",
        "user_id": "u-1",
        "user_name": "Ada",
        "api_key_id": "k-1",
        "api_key_name": "laptop",
        "org_id": ORG,
    }
    api = FakeApi(
        httpx.Response(200, json=pat),
        httpx.Response(200, json={"principal_type": "robot_overlord", "org_id": ORG}),
    )
    client = api.client()

    first = client.whoami()
    second = client.whoami()

    assert (first.kind, first.user_name, first.api_key_name, first.org_id) == (
        "pat_user",
        "Ada",
        "laptop",
        ORG,
    )
    assert (second.kind, second.org_id, second.name) == ("robot_overlord", ORG, "robot_overlord")


# --- listing and paging -----------------------------------------------------------------------


def test_list_page_sends_flat_params_with_repeated_keys() -> None:
    api = FakeApi(httpx.Response(200, json=page_json([session_json()], total=1)))

    query = SessionQuery(
        first=50,
        updated_after=1_700_000_000,
        updated_before=1_700_000_100,
        created_after=1_600_000_000,
        created_before=1_600_000_100,
        is_archived=False,
        session_ids=["abc", "devin-def", "devin-ghi"],
        tags=["a", "b c"],
    )

    page = api.client().list_page(query, after="cursor-1")

    (request,) = api.requests
    assert request.url.path == f"/v3/organizations/{ORG}/sessions"
    assert request.url.params.multi_items() == [
        ("first", "50"),
        ("after", "cursor-1"),
        ("updated_after", "1700000000"),
        ("updated_before", "1700000100"),
        ("created_after", "1600000000"),
        ("created_before", "1600000100"),
        ("is_archived", "false"),
        ("session_ids", "devin-abc"),
        ("session_ids", "devin-def"),
        ("session_ids", "devin-ghi"),
        ("tags", "a"),
        ("tags", "b c"),
    ]
    assert "qs" not in request.url.params
    assert [s.session_id for s in page.items] == ["devin-abc123"]
    assert (page.end_cursor, page.has_next_page, page.total) == (None, False, 1)


def test_list_page_defaults_and_true_boolean() -> None:
    api = FakeApi(httpx.Response(200, json=page_json([])))

    api.client().list_page(SessionQuery(is_archived=True))

    assert api.requests[0].url.params.multi_items() == [("first", "200"), ("is_archived", "true")]


def test_list_page_with_empty_session_ids_asks_nothing() -> None:
    api = FakeApi(httpx.Response(500))

    page = api.client().list_page(SessionQuery(session_ids=[]))

    assert page.items == []
    assert page.has_next_page is False
    assert api.requests == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"first": 0}, ValueError),
        ({"first": 201}, ValueError),
        ({"tags": "nightly"}, TypeError),
        ({"session_ids": "devin-abc"}, TypeError),
        ({"updated_after": 1.5}, TypeError),
        ({"session_ids": ["devin-"]}, ValueError),
    ],
)
def test_list_page_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    api = FakeApi(httpx.Response(200, json=page_json([])))

    with pytest.raises(error):
        api.client().list_page(SessionQuery(**kwargs))

    assert api.requests == []


def test_one_query_serves_every_page_with_canonical_ids() -> None:
    query = SessionQuery(session_ids=["abc", "devin-def"], tags=["x"])

    assert query.session_ids == ("devin-abc", "devin-def")
    assert query == SessionQuery(session_ids=("devin-abc", "devin-def"), tags=("x",))
    assert hash(query) == hash(SessionQuery(session_ids=["devin-abc", "devin-def"], tags=["x"]))
    assert query.params("c1")[:2] == [("first", "200"), ("after", "c1")]


def test_list_sessions_walks_every_page() -> None:
    api = FakeApi(
        httpx.Response(
            200,
            json=page_json(
                [session_json(session_id="devin-a")], end_cursor="c1", has_next_page=True
            ),
        ),
        httpx.Response(
            200,
            json=page_json(
                [session_json(session_id="devin-b")], end_cursor="c2", has_next_page=True
            ),
        ),
        httpx.Response(
            200,
            json=page_json(
                [session_json(session_id="devin-c")], end_cursor="c3", has_next_page=False
            ),
        ),
    )

    query = SessionQuery(first=1, is_archived=False, tags=["x", "y"])

    pages = list(api.client().list_sessions(query))

    assert [[s.session_id for s in page.items] for page in pages] == [
        ["devin-a"],
        ["devin-b"],
        ["devin-c"],
    ]
    assert [r.url.params.get("after") for r in api.requests] == [None, "c1", "c2"]
    for request in api.requests:
        assert request.url.params.get_list("tags") == ["x", "y"]
        assert request.url.params["first"] == "1"
        assert request.url.params["is_archived"] == "false"


def test_list_sessions_fails_clearly_on_a_repeated_cursor() -> None:
    api = FakeApi(
        httpx.Response(200, json=page_json([session_json()], end_cursor="c1", has_next_page=True)),
        httpx.Response(200, json=page_json([session_json()], end_cursor="c2", has_next_page=True)),
        httpx.Response(200, json=page_json([session_json()], end_cursor="c1", has_next_page=True)),
        AssertionError("the client asked past a repeated cursor"),
    )
    pages = []

    with pytest.raises(BadResponse) as caught:
        for page in api.client().list_sessions():
            pages.append(page)

    assert len(pages) == 3  # what came before the loop is kept
    assert [r.url.params.get("after") for r in api.requests] == [None, "c1", "c2"]
    error = caught.value
    assert (error.operation, error.org, error.org_name) == ("list", ORG, "Acme")
    assert "gave page 3 a cursor it had already given" in error.detail
    assert wording.describe(error).startswith("The Devin API sent data the dashboard cannot read")


def test_list_sessions_stops_at_the_page_cap_with_an_error() -> None:
    endless = [
        httpx.Response(
            200, json=page_json([session_json()], end_cursor=f"c{n}", has_next_page=True)
        )
        for n in range(4)
    ]
    api = FakeApi(*endless)

    with pytest.raises(BadResponse) as caught:
        list(api.client().list_sessions(max_pages=3))

    assert len(api.requests) == 3
    assert "still had more after 3 pages" in caught.value.detail


def test_list_sessions_stops_on_a_null_cursor() -> None:
    api = FakeApi(
        httpx.Response(200, json=page_json([session_json()], end_cursor=None, has_next_page=True)),
        httpx.Response(200, json=page_json([session_json()], end_cursor="c2", has_next_page=True)),
    )

    pages = list(api.client().list_sessions())

    assert len(pages) == 1
    assert len(api.requests) == 1


def test_list_sessions_is_lazy() -> None:
    api = FakeApi(
        httpx.Response(200, json=page_json([session_json()], end_cursor="c1", has_next_page=True))
    )

    pages: Iterator[Any] = api.client().list_sessions()
    assert api.requests == []
    next(pages)

    assert len(api.requests) == 1


# --- one session ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "devin-", "a\x00b", "x" * 501])
def test_get_session_rejects_what_cannot_be_an_id_before_any_request(bad: str) -> None:
    api = FakeApi(httpx.Response(200, json=session_json()))

    with pytest.raises(ValueError):
        api.client().get_session(bad)

    assert api.requests == []


@pytest.mark.parametrize(
    ("session_id", "segment"),
    [
        ("../../self", "devin-..%2F..%2Fself"),
        ("devin-a b?c#d%e", "devin-a%20b%3Fc%23d%25e"),
        ("devin-déjà", "devin-d%C3%A9j%C3%A0"),
    ],
)
def test_an_odd_session_id_is_one_url_encoded_path_segment(session_id: str, segment: str) -> None:
    answer = httpx.Response(200, json=session_json(session_id=session_id))
    api = FakeApi(answer, answer)

    api.client().get_session(session_id)
    api.client().archive_session(session_id)

    prefix = f"/v3/organizations/{ORG}/sessions/"
    assert [r.url.raw_path.decode() for r in api.requests] == [
        prefix + segment,
        prefix + segment + "/archive",
    ]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ({"session_id": "devin-other"}, "session devin-other of org-test123, not the one asked"),
        ({"org_id": "org-other"}, "session devin-abc123 of org-other, not the one asked for"),
    ],
)
def test_get_session_refuses_an_answer_about_another_session(
    answer: dict[str, str], said: str
) -> None:
    api = FakeApi(httpx.Response(200, json=session_json(**answer)))

    with pytest.raises(BadResponse) as caught:
        api.client().get_session("devin-abc123")

    assert said in caught.value.detail
    assert (caught.value.operation, caught.value.maybe_applied) == ("get", False)


# --- configuration and secrecy ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "ftp://api.devin.ai"},
        {"base_url": "api.devin.ai"},
        {"base_url": f"https://user:{TOKEN}@api.devin.ai"},
        {"base_url": "https://api.devin.ai/?x=1"},
        {"base_url": f"https://api.devin.ai/?token={TOKEN}"},
        {"org_id": "org-1/../../v3/self"},
        {"org_id": ""},
        {"token": ""},
        {"token": "   "},
        {"token": TOKEN + " extra"},
        {"token": TOKEN + "\u00e9"},
    ],
)
def test_bad_configuration_is_misconfigured(kwargs: dict[str, str]) -> None:
    error = misconfigured(**kwargs)

    assert isinstance(error, ValueError)
    assert isinstance(error, DevinError)
    assert error.kind == Kind.MISCONFIGURED
    assert error.field == next(iter(kwargs))
    assert TOKEN not in error.detail
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)


def test_pasted_surrounding_whitespace_in_token_is_forgiven() -> None:
    api = FakeApi(httpx.Response(200, json=session_json()))
    client = DevinClient(
        base_url=BASE + "/",
        org_id=ORG,
        token=f"  {TOKEN}\n",
        http=httpx.Client(transport=httpx.MockTransport(api.handler)),
    )

    client.get_session("devin-abc123")

    assert api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_client_repr_hides_the_token() -> None:
    client = FakeApi(httpx.Response(200)).client()

    assert repr(client) == (
        "<DevinClient 'Acme' org_id='org-test123' base_url='https://api.devin.test'>"
    )
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    assert all(TOKEN not in repr(value) for value in vars(client).values())


@pytest.mark.parametrize(
    "outcome",
    [
        problem(401, "nope"),
        problem(403, "nope"),
        problem(404),
        problem(409),
        problem(422, errors=[{"loc": ["x"], "msg": "bad"}]),
        rate_limited("999"),
        httpx.Response(503),
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"session_id": 1}),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ConnectError("[SSL] certificate verify failed"),
    ],
)
@pytest.mark.parametrize("call", ["get", "archive"])
def test_token_never_appears_in_any_error(outcome: Outcome, call: str) -> None:
    api = FakeApi(outcome)
    client = api.client()
    action: Callable[[str], Session] = (
        client.get_session if call == "get" else client.archive_session
    )

    with pytest.raises(DevinError) as caught:
        action("devin-abc123")

    assert api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert_no_token(caught.value)
    assert caught.value.__context__ is None
    assert TOKEN not in json.dumps(vars(caught.value), default=repr)


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: FakeApi(httpx.ConnectError("refused")).client().archive_session("devin-abc123"),
        lambda: FakeApi(problem(401)).client().get_session("devin-abc123"),
        lambda: DevinClient(base_url="nope", org_id=ORG, token=TOKEN, http=UNUSED_HTTP),
    ],
    ids=["network", "http", "constructor"],
)
def test_django_error_report_does_not_show_the_token(make_error: Callable[[], object]) -> None:
    try:
        make_error()
    except DevinError:
        # The HTML page is the one that lists every frame's local variables.
        report = ExceptionReporter(None, *sys.exc_info()).get_traceback_html()
    else:
        raise AssertionError("expected a DevinError")

    assert "&lt;DevinClient " in report  # frame locals were rendered
    assert TOKEN not in report
