"""DevinClient's calls about one session against httpx.MockTransport: terminate, messages, tags and
attachments. The requests they send, what they return, per-item tolerance, the arguments they
refuse before sending, and every failure as the DevinError kinds the other calls use.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dashboard.devin import (
    Attachment,
    BadCredentials,
    BadResponse,
    Conflict,
    DevinClient,
    DevinError,
    Forbidden,
    Invalid,
    Kind,
    Message,
    NotFound,
    RateLimited,
    Unavailable,
)
from tests.devin_api import (
    BASE,
    SESSION_PATH,
    TOKEN,
    FakeApi,
    Outcome,
    assert_no_token,
    attachment_json,
    message_json,
    page_json,
    problem,
    rate_limited,
    session_json,
)

SID = "devin-abc123"


def ok(body: object) -> httpx.Response:
    return httpx.Response(200, json=body)


def body_of(request: httpx.Request) -> Any:
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.content)


# --- the requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(("archive", "sent"), [(False, "false"), (True, "true")])
def test_terminate_sends_delete_with_archive_and_returns_the_session(
    archive: bool, sent: str
) -> None:
    api = FakeApi(ok(session_json(status="exit", status_detail=None, is_archived=archive)))

    session = api.client().terminate_session("abc123", archive=archive)

    (request,) = api.requests
    assert (request.method, request.url.path) == ("DELETE", SESSION_PATH)
    assert request.url.params.multi_items() == [("archive", sent)]
    assert request.content == b""
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert (session.status, session.status_detail, session.is_archived) == ("exit", None, archive)


def test_list_messages_sends_first_and_after_and_reads_the_page() -> None:
    api = FakeApi(
        ok(
            page_json(
                [
                    message_json(event_id="e1", source="user", message="Fix it", created_at=1),
                    message_json(event_id="e2", created_at=1_700_000_000_500),  # milliseconds
                ],
                end_cursor="c2",
                has_next_page=True,
                total=40,
            )
        )
    )

    page = api.client().list_messages("abc123", after="c1", first=2)

    (request,) = api.requests
    assert (request.method, request.url.path) == ("GET", f"{SESSION_PATH}/messages")
    assert request.url.params.multi_items() == [("first", "2"), ("after", "c1")]
    assert page.items == [
        Message(
            event_id="e1",
            source="user",
            text="Fix it",
            created_at=datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        ),
        Message(
            event_id="e2",
            source="devin",
            text="Done: see ```python\nprint(1)\n```",
            created_at=datetime.fromtimestamp(1_700_000_000.5, tz=UTC),
        ),
    ]
    assert (page.end_cursor, page.has_next_page, page.total, page.skipped) == ("c2", True, 40, 0)
    assert [m.from_devin for m in page.items] == [False, True]


def test_list_messages_defaults_to_the_specs_page_size_without_a_cursor() -> None:
    api = FakeApi(ok({"items": []}))

    page = api.client().list_messages(SID)

    assert api.requests[0].url.params.multi_items() == [("first", "100")]
    assert (page.items, page.end_cursor, page.has_next_page, page.total) == ([], None, False, None)


def test_send_message_posts_the_text_as_json() -> None:
    api = FakeApi(ok(session_json(status_detail=None, category=None)))
    text = 'Yes, backfill too. <script>alert("x")</script> \u00e9'

    session = api.client().send_message(SID, text)

    (request,) = api.requests
    assert (request.method, request.url.path) == ("POST", f"{SESSION_PATH}/messages")
    assert body_of(request) == {"message": text}
    assert session.session_id == SID and session.status_detail is None


@pytest.mark.parametrize(
    ("call", "method", "body"),
    [
        (lambda c: c.get_tags(SID), "GET", None),
        (lambda c: c.append_tags(SID, ["urgent", "a b"]), "POST", {"tags": ["urgent", "a b"]}),
        (lambda c: c.replace_tags(SID, ("x",)), "PUT", {"tags": ["x"]}),
        (lambda c: c.replace_tags(SID, []), "PUT", {"tags": []}),
    ],
    ids=["get", "append", "replace", "clear"],
)
def test_tag_calls(call: Callable[[DevinClient], Any], method: str, body: Any) -> None:
    api = FakeApi(ok({"tags": ["urgent", "a b"]}))

    tags = call(api.client())

    (request,) = api.requests
    assert (request.method, request.url.path) == (method, f"{SESSION_PATH}/tags")
    assert (body_of(request) if body is not None else request.content) == (body or b"")
    assert tags == ("urgent", "a b")


def test_list_attachments_reads_each_attachment() -> None:
    api = FakeApi(
        ok(
            [
                attachment_json(),
                attachment_json(
                    attachment_id="a2", name="fix.patch", source="devin", content_type=None
                ),
                {
                    k: v
                    for k, v in attachment_json(attachment_id="a3").items()
                    if k != "content_type"
                },
            ]
        )
    )

    listed = api.client().list_attachments(SID)

    assert api.requests[0].url.path == f"{SESSION_PATH}/attachments"
    assert listed.items[0] == Attachment(
        attachment_id="attachment-1",
        name="error.log",
        url="https://app.devin.ai/attachments/1/error.log",
        source="user",
        content_type="text/plain",
    )
    assert [(a.attachment_id, a.content_type) for a in listed.items[1:]] == [
        ("a2", None),
        ("a3", None),
    ]
    assert listed.skipped == 0


# --- untrusted answers ------------------------------------------------------------------------


def test_one_unreadable_message_is_skipped_and_counted_not_the_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_text = "password=hunter2 in a message"
    items: list[Any] = [
        message_json(event_id="e1"),
        message_json(event_id="e2", created_at="yesterday", message=secret_text),
        "not a message",
        {k: v for k, v in message_json(event_id="e4").items() if k != "message"},
        message_json(event_id="e5", source="devin_subagent", message="NUL\x00here"),
        message_json(event_id="e6", created_at=10**17),  # beyond year 9999 in milliseconds: no
    ]
    api = FakeApi(ok(page_json(items, total=6)))

    with caplog.at_level(logging.WARNING, logger="dashboard.devin.session_parts"):
        page = api.client().list_messages(SID)
        assert not caplog.records  # the items are read (and the unreadable logged) when asked
        assert [m.event_id for m in page.items] == ["e1", "e5"]

    assert page.items[1].source == "devin_subagent"  # an unknown author is kept, not dropped
    assert page.items[1].text == "NUL\ufffdhere"
    assert (page.skipped, page.total) == (4, 6)
    assert len(caplog.records) == 1
    assert "4 unreadable messages for devin-abc123 of Acme (org-test123)" in caplog.text
    assert secret_text not in caplog.text


def test_one_unreadable_attachment_is_skipped_and_counted() -> None:
    api = FakeApi(
        ok(
            [
                attachment_json(url=None),
                attachment_json(attachment_id="a2", name="a\x00b"),
                [],
                attachment_json(attachment_id="a4", content_type=7),
            ]
        )
    )

    listed = api.client().list_attachments(SID)

    assert [(a.attachment_id, a.name) for a in listed.items] == [("a2", "a\ufffdb")]
    assert listed.skipped == 3


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ([], "messages page should be an object, got a list"),
        ({"total": 1}, "messages page.items is missing"),
        ({"items": {}}, "messages page.items should be a list, got an object"),
        ({"items": [], "has_next_page": "yes"}, "messages page.has_next_page should be a boolean"),
        ({"items": [], "end_cursor": 5}, "messages page.end_cursor should be a string or null"),
        ({"items": [], "total": "many"}, "messages page.total should be an integer or null"),
    ],
)
def test_a_messages_envelope_that_breaks_the_contract_is_bad_response(
    body: object, detail: str
) -> None:
    api = FakeApi(ok(body))

    with pytest.raises(BadResponse) as caught:
        api.client().list_messages(SID)

    assert caught.value.kind == Kind.BAD_RESPONSE
    assert caught.value.detail.startswith(detail)
    assert (caught.value.operation, caught.value.session_id) == ("messages", SID)


@pytest.mark.parametrize(
    ("call", "body", "detail"),
    [
        ("get_tags", {}, "tags answer.tags is missing"),
        ("get_tags", {"tags": "urgent"}, "tags answer.tags should be a list of strings"),
        ("append_tags", {"tags": ["ok", None]}, "tags answer.tags[1] should be a string"),
        ("replace_tags", [], "tags answer should be an object"),
        ("list_attachments", {"items": []}, "attachments should be a list, got an object"),
    ],
)
def test_tags_and_attachment_lists_that_break_the_contract_are_bad_response(
    call: str, body: object, detail: str
) -> None:
    api = FakeApi(ok(body))
    client = api.client()
    args: tuple[Any, ...] = (SID,) if call in ("get_tags", "list_attachments") else (SID, ["x"])

    with pytest.raises(BadResponse) as caught:
        getattr(client, call)(*args)

    assert caught.value.detail.startswith(detail)
    # Written tags were applied even though the answer cannot be read.
    assert caught.value.maybe_applied is (call in ("append_tags", "replace_tags"))


# --- arguments refused before any request ----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error"),
    [
        # Any non-empty string is a session id (URL-encoded); these cannot be one.
        (lambda c: c.terminate_session("devin-a\x00b"), ValueError),
        (lambda c: c.list_messages("x" * 501), ValueError),
        (lambda c: c.list_messages(SID, first=0), ValueError),
        (lambda c: c.list_messages(SID, first=201), ValueError),
        (lambda c: c.list_messages(SID, first=True), TypeError),
        (lambda c: c.list_messages(SID, first="50"), TypeError),
        (lambda c: c.send_message(SID, ""), ValueError),
        (lambda c: c.send_message(SID, " \n\t"), ValueError),
        (lambda c: c.send_message(SID, None), TypeError),
        (lambda c: c.send_message("", "hi"), ValueError),
        (lambda c: c.append_tags(SID, "urgent"), TypeError),
        (lambda c: c.replace_tags(SID, ["ok", 3]), TypeError),
        (lambda c: c.replace_tags(SID, [f"t{n}" for n in range(51)]), ValueError),
        (lambda c: c.get_tags(""), ValueError),
        (lambda c: c.list_attachments("devin-"), ValueError),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    call: Callable[[DevinClient], Any], error: type[Exception]
) -> None:
    api = FakeApi(httpx.Response(599))

    with pytest.raises(error):
        call(api.client())

    assert api.requests == []


# --- every failure, for every call ------------------------------------------------------------

CALLS: dict[str, Callable[[DevinClient], Any]] = {
    "terminate": lambda c: c.terminate_session(SID),
    "messages": lambda c: c.list_messages(SID),
    "send_message": lambda c: c.send_message(SID, "hello"),
    "tags": lambda c: c.get_tags(SID),
    "append_tags": lambda c: c.append_tags(SID, ["x"]),
    "replace_tags": lambda c: c.replace_tags(SID, ["x"]),
    "attachments": lambda c: c.list_attachments(SID),
}
READS = {"messages", "tags", "attachments"}

FAILURES: list[tuple[str, Outcome, type[DevinError], Kind]] = [
    ("401", problem(401, "Invalid API key"), BadCredentials, Kind.BAD_CREDENTIALS),
    ("403", problem(403, "lacks ManageOrgSessions"), Forbidden, Kind.FORBIDDEN),
    ("404", problem(404, "Session devin-abc123 not found"), NotFound, Kind.NOT_FOUND),
    ("409", problem(409, "Session has ended"), Conflict, Kind.CONFLICT),
    (
        "422",
        problem(422, "bad", errors=[{"loc": ["body", "x"], "msg": "m"}]),
        Invalid,
        Kind.INVALID,
    ),
    ("429", rate_limited(None), RateLimited, Kind.RATE_LIMITED),
    ("503", httpx.Response(503, text="<html>down</html>"), Unavailable, Kind.UNAVAILABLE),
    ("timeout", httpx.ReadTimeout("timed out"), Unavailable, Kind.TIMEOUT),
    ("not-json", httpx.Response(200, text="<html>login</html>"), BadResponse, Kind.NOT_JSON),
    ("undecodable", httpx.DecodingError("bad gzip"), BadResponse, Kind.UNDECODABLE),
]


@pytest.mark.parametrize(("operation", "call"), CALLS.items(), ids=list(CALLS))
@pytest.mark.parametrize(
    ("outcome", "cls", "kind"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
def test_every_failure_is_a_devin_error_that_says_what_and_whose(
    operation: str,
    call: Callable[[DevinClient], Any],
    outcome: Outcome,
    cls: type[DevinError],
    kind: Kind,
) -> None:
    api = FakeApi(outcome)

    with pytest.raises(DevinError) as caught:
        call(api.client())

    error = caught.value
    assert (type(error), error.kind) == (cls, kind)
    assert (error.operation, error.session_id, error.org_name) == (operation, SID, "Acme")
    assert_no_token(error)
    reads = operation in READS
    # A read is retried where that can help (429, 503, timeouts); a change is never sent twice
    # after it may have arrived, and says when it may have taken effect anyway.
    retried = reads and kind in (Kind.RATE_LIMITED, Kind.UNAVAILABLE, Kind.TIMEOUT)
    assert (len(api.requests) > 1) is retried
    if not reads:
        answered_or_lost = (Kind.UNAVAILABLE, Kind.TIMEOUT, Kind.NOT_JSON, Kind.UNDECODABLE)
        assert error.maybe_applied is (kind in answered_or_lost)
        assert len(api.requests) == 1
    else:
        assert error.maybe_applied is False


@pytest.mark.parametrize("operation", ["terminate", "send_message", "replace_tags"])
def test_a_change_that_never_left_is_retried_once_it_can_be(operation: str) -> None:
    answer = {"terminate": session_json(), "send_message": session_json()}.get(
        operation, {"tags": ["x"]}
    )
    api = FakeApi(httpx.ConnectError("[Errno 111] Connection refused"), ok(answer))

    CALLS[operation](api.client())

    assert len(api.requests) == 2
    assert api.requests[0].content == api.requests[1].content  # the same body both times


def test_a_message_is_retried_after_a_429_that_says_when() -> None:
    api = FakeApi(rate_limited("0.2"), ok(session_json()))

    api.client().send_message(SID, "hello")

    assert [body_of(r) for r in api.requests] == [{"message": "hello"}] * 2
    assert api.sleeps == [0.2]


def test_the_base_url_and_its_path_are_kept_for_the_new_calls() -> None:
    api = FakeApi(ok({"tags": []}))
    client = DevinClient(
        base_url="https://devin.example.com/proxy/",
        org_id="org-test123",
        token=TOKEN,
        http=httpx.Client(transport=httpx.MockTransport(api.handler)),
    )

    client.replace_tags(SID, [])

    assert str(api.requests[0].url) == f"https://devin.example.com/proxy{SESSION_PATH}/tags"
    assert BASE not in str(api.requests[0].url)
