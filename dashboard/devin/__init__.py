"""The Devin API v3 client: the only package that talks to Devin, and the only one importing httpx.

Everything the rest of the dashboard needs goes through `DevinClient` (`client`). Answers are
parsed into frozen dataclasses in one place (`schema`); every failure becomes a `DevinError`
(`errors`) that carries what happened as data, which `dashboard.wording` puts in words. Views
catch `DevinError` and nothing else.

- `errors`: the DevinError hierarchy and its `Kind`s.
- `schema`: Session, PullRequest, SessionPage (with its SkippedItems), Identity, their parsing,
  session ids (canonical_session_id, normalize_session_id) and clean_text.
- `conversation`: Message, MessagePage, Attachment, AttachmentList, tags: their parsing.
- `query`: SessionQuery, the filters of the sessions list.
- `problems`: problem bodies, Retry-After, clipping untrusted text.
- `transport`: the shared httpx client, auth, timeouts, retries, failure classification.
- `client`: DevinClient, one method per endpoint; `session_parts`: its calls about a session's
  messages, tags and attachments.
"""

from dashboard.devin.client import DevinClient
from dashboard.devin.conversation import Attachment, AttachmentList, Message, MessagePage
from dashboard.devin.errors import (
    BadCredentials,
    BadResponse,
    Conflict,
    DevinError,
    Forbidden,
    Invalid,
    Kind,
    Misconfigured,
    NotFound,
    RateLimited,
    Unavailable,
)
from dashboard.devin.query import SessionQuery
from dashboard.devin.schema import (
    Identity,
    PullRequest,
    Session,
    SessionPage,
    SkippedItem,
    canonical_session_id,
    clean_text,
    normalize_session_id,
    parse_session,
)

__all__ = [
    "Attachment",
    "AttachmentList",
    "BadCredentials",
    "BadResponse",
    "Conflict",
    "DevinClient",
    "DevinError",
    "Forbidden",
    "Identity",
    "Invalid",
    "Kind",
    "Message",
    "MessagePage",
    "Misconfigured",
    "NotFound",
    "PullRequest",
    "RateLimited",
    "Session",
    "SessionPage",
    "SessionQuery",
    "SkippedItem",
    "Unavailable",
    "canonical_session_id",
    "clean_text",
    "normalize_session_id",
    "parse_session",
]
