"""`DevinClient`: the Devin API v3 calls the dashboard makes, one method per endpoint.

The contract is the vendored OpenAPI subset in the shared spec folder
(`devin-v3-sessions.openapi.yaml`, copied from https://docs.devin.ai/v3-openapi.yaml). How a
request is sent, retried and its failures classified lives in `transport`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from django.views.decorators.debug import sensitive_variables

from dashboard.baseurls import refusal
from dashboard.devin.errors import DevinError, Kind, Misconfigured, make_error
from dashboard.devin.problems import clip
from dashboard.devin.query import SessionQuery
from dashboard.devin.schema import (
    ID_CHARS,
    Identity,
    Session,
    SessionPage,
    SkippedItem,
    canonical_session_id,
    parse_identity,
    parse_page,
    parse_session,
    path_segment,
)
from dashboard.devin.session_parts import SessionPartCalls
from dashboard.devin.transport import BearerAuth, Transport, api_host, shared_client

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

_TOKEN_CHARS: Final = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: a header value
# Most pages one listing follows: 200 sessions a page, a million sessions. A server that keeps
# saying "there is more" beyond that is looping, and the listing stops with an error.
MAX_PAGES: Final = 5_000


class DevinClient(SessionPartCalls):
    """Calls the Devin API v3 for one organization with one token. The calls about a session's
    messages, tags and attachments come from `SessionPartCalls`.

    Cheap to create (one per request is fine): the connection pool is shared by the process.
    Session ids are taken as the API gives them (`canonical_session_id`); what a person typed
    goes through `normalize_session_id` first.
    Tests pass `http` (an httpx.Client with a MockTransport), `sleep` and `clock`. Every failure
    is a `DevinError`; a bad base URL, org id or token is `Misconfigured`, raised here.

    Each call takes an optional `deadline`, a `clock()` (time.monotonic) instant: the call, its
    retries and its waits all end by then. A person's own action passes one; sync does not.
    """

    # For Django's error reports: these locals hold the token while the constructor runs.
    @sensitive_variables("token", "secret")
    def __init__(
        self,
        *,
        base_url: str,
        org_id: str,
        token: str,
        label: str = "",
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.org_id = org_id
        self.base_url = base_url.strip().rstrip("/")
        org = clip(str(org_id), 80)
        secret = token.strip() if isinstance(token, str) else ""
        host = api_host(self.base_url)
        # Checked on every use, not only when saved: an org saved before a rule was added is
        # held to it too, and never sent a request.
        refused = refusal(self.base_url) if host is not None else None
        if host is None or refused is not None:
            # User info may hold a password, and a pasted URL the token: never repeat either.
            shown = "…@" + base_url.rsplit("@", 1)[1] if "@" in base_url else base_url
            shown = shown.replace(secret, "[redacted]") if secret else shown
            raise Misconfigured(
                "base_url", detail=clip(shown, 80), org=org, org_name=label, reason=refused or ""
            )
        # The org id goes into the URL path: anything but an id could point at another endpoint.
        if not (isinstance(org_id, str) and ID_CHARS.fullmatch(org_id)):
            raise Misconfigured("org_id", detail=org, org=org, org_name=label)
        if not _TOKEN_CHARS.fullmatch(secret):
            raise Misconfigured("token", org=org, org_name=label)
        self._transport = Transport(
            base_url=self.base_url,
            host=host,
            org=org_id,
            org_name=label,
            who=clip(f"{label} ({org_id})" if label else org_id, 120),
            auth=BearerAuth(secret),
            http=http if http is not None else shared_client(),
            sleep=sleep,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"<DevinClient {self.label!r} org_id={self.org_id!r} base_url={self.base_url!r}>"

    def whoami(self, *, deadline: float | None = None) -> Identity:
        """Who the token is: GET /v3/self. Needs no org permission, so it checks the token alone."""
        # Spec operation handle_get_self_v3_self_get; https://docs.devin.ai/api-reference/v3/self
        return self._transport.call(
            "GET", "/v3/self", parse_identity, operation="whoami", deadline=deadline
        )

    def list_page(
        self,
        query: SessionQuery | None = None,
        *,
        after: str | None = None,
        deadline: float | None = None,
    ) -> SessionPage:
        """Fetch one page of sessions (needs ViewOrgSessions); `after` is a previous `end_cursor`.

        A query whose `session_ids` is empty returns an empty page without a request. Items that
        cannot be read, or that belong to another org, are in the page's `skipped`.
        """
        query = query or SessionQuery()
        if query.asks_nothing:
            return SessionPage(items=[], end_cursor=None, has_next_page=False, total=0)
        # Spec operation handle_get_sessions_v3_organizations__org_id__sessions_get;
        # https://docs.devin.ai/api-reference/v3/sessions/get-organizations-sessions
        page = self._transport.call(
            "GET",
            f"/v3/organizations/{self.org_id}/sessions",
            parse_page,
            operation="list",
            params=query.params(after),
            deadline=deadline,
        )
        # Stored under this org, another org's session would be a row nobody asked for.
        foreign = [item for item in page.items if item.org_id != self.org_id]
        if not foreign:
            return page
        return dataclasses.replace(
            page,
            items=[item for item in page.items if item.org_id == self.org_id],
            skipped=page.skipped
            + [
                SkippedItem(item.session_id, f"belongs to {clip(item.org_id, 80)}, not this org")
                for item in foreign
            ],
        )

    def list_sessions(
        self, query: SessionQuery | None = None, *, max_pages: int = MAX_PAGES
    ) -> Iterator[SessionPage]:
        """Yield every page of sessions matching the query, following `end_cursor`.

        Stops when the server says there is no next page or gives no cursor. Raises BadResponse
        when it repeats a cursor it already gave, or announces more than `max_pages` pages: a
        server bug that would otherwise loop forever. The pages yielded before are good.
        """
        after: str | None = None
        seen: set[str] = set()
        for number in range(1, max_pages + 1):
            page = self.list_page(query, after=after)
            yield page
            if not page.has_next_page or page.end_cursor is None:
                return
            if page.end_cursor in seen:
                raise self._list_error(
                    f"the sessions list gave page {number} a cursor it had already given, so "
                    "paging stopped there rather than loop"
                )
            seen.add(page.end_cursor)
            after = page.end_cursor
        raise self._list_error(
            f"the sessions list still had more after {max_pages:,} pages, so paging stopped there"
        )

    def _list_error(self, detail: str) -> DevinError:
        error = make_error(Kind.BAD_RESPONSE, detail=detail)
        transport = self._transport
        error.org, error.org_name, error.host = transport.org, transport.org_name, transport.host
        error.operation = "list"
        logger.warning("Devin API at %s: %s for %s", transport.host, detail, transport.who)
        return error

    def get_session(self, session_id: str, *, deadline: float | None = None) -> Session:
        """Fetch one session (needs ViewOrgSessions). Raises NotFound if it does not exist, and
        BadResponse if the answer is about another session or org."""
        sid = canonical_session_id(session_id)

        def parse(body: object) -> Session:
            # An answer about another session (or org) must never be stored as this one.
            session = parse_session(body)
            if session.session_id != sid or session.org_id != self.org_id:
                raise make_error(
                    Kind.BAD_RESPONSE,
                    detail=f"the answer was about session {clip(session.session_id, 80)} of "
                    f"{clip(session.org_id, 80)}, not the one asked for",
                )
            return session

        # Spec operation handle_get_session_v3_organizations__org_id__sessions__devin_id__get;
        # https://docs.devin.ai/api-reference/v3/sessions/get-organizations-session
        return self._transport.call(
            "GET",
            f"/v3/organizations/{self.org_id}/sessions/{path_segment(sid)}",
            parse,
            operation="get",
            session_id=sid,
            deadline=deadline,
        )

    def archive_session(self, session_id: str, *, deadline: float | None = None) -> Session:
        """Archive a session (needs ManageOrgSessions); a running session is put to sleep.

        The answer has status_detail/category/subcategory/structured_output null: re-read the
        session with get_session for fresh values.
        """
        # Spec operation
        # handle_archive_session_v3_organizations__org_id__sessions__devin_id__archive_post;
        # https://docs.devin.ai/api-reference/v3/sessions/post-organizations-sessions-archive
        return self._post_to_session(session_id, "archive", deadline)

    def unarchive_session(self, session_id: str, *, deadline: float | None = None) -> Session:
        """Unarchive a session (needs ManageOrgSessions). Child sessions stay archived."""
        # Spec operation
        # handle_unarchive_session_v3_organizations__org_id__sessions__devin_id__unarchive_post;
        # https://docs.devin.ai/api-reference/v3/sessions/post-organizations-sessions-unarchive
        return self._post_to_session(session_id, "unarchive", deadline)

    def terminate_session(
        self, session_id: str, *, archive: bool = False, deadline: float | None = None
    ) -> Session:
        """Terminate a session (needs ManageOrgSessions): it stops for good and cannot be
        resumed; with `archive` it is archived too. The answer has status_detail/category/
        subcategory/structured_output null, as an archive's does: re-read the session for them.
        """
        sid, path = self._session_path(session_id)
        params = [("archive", "true" if archive else "false")]
        # Spec operation
        # handle_terminate_session_v3_organizations__org_id__sessions__devin_id__delete;
        # https://docs.devin.ai/api-reference/v3/sessions/delete-organizations-sessions
        return self._transport.call(
            "DELETE",
            path,
            parse_session,
            operation="terminate",
            session_id=sid,
            params=params,
            deadline=deadline,
        )

    def _post_to_session(self, session_id: str, action: str, deadline: float | None) -> Session:
        """POST /v3/organizations/{org_id}/sessions/{devin_id}/{action}; the session it returns."""
        sid = canonical_session_id(session_id)
        return self._transport.call(
            "POST",
            f"/v3/organizations/{self.org_id}/sessions/{path_segment(sid)}/{action}",
            parse_session,
            operation=action,
            session_id=sid,
            deadline=deadline,
        )
