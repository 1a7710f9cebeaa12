"""A fake Devin API v3 (sessions subset): a real HTTP server for the demo, tests and benchmarks.

It follows ``tests/spec/devin-v3-sessions.openapi.yaml`` and doubles as documentation of the
behaviour the dashboard relies on. Standard library only, no Django: it runs standalone
(``python -m fakedevin --help``) or in-process::

    from fakedevin import FakeDevin

    with FakeDevin(seed=1, sessions_per_org=60) as fake:  # starts on a free loopback port
        token = fake.tokens["org-acme"]["manage"]
        httpx.get(f"{fake.url}/v3/self", headers={"Authorization": f"Bearer {token}"})
        fake.inject("429", count=2, retry_after="1", method="POST", path="/archive")

API (``Authorization: Bearer cog_...``; errors are RFC 9457 ``application/problem+json``)
    ``GET /v3/self``                                   the token's service user and org_id
    ``GET /v3/organizations/{org_id}/sessions``        cursor-paginated list: ``first`` (1..200,
        default 100), ``after``, ``created_after``/``created_before``/``updated_after``/
        ``updated_before`` (Unix seconds), ``is_archived``, repeated ``session_ids``,
        ``tags``, ``origins``, and ``category``; envelope ``{items, end_cursor,
        has_next_page, total}``; ``end_cursor`` is null on the last page
    ``GET …/sessions/{devin_id}``                      one session (id with or without
        ``devin-``)
    ``POST …/sessions/{devin_id}/archive``             archive; an active session (new,
        claimed, running, resuming) goes to sleep: status ``suspended``, status_detail
        ``user_request``
    ``POST …/sessions/{devin_id}/unarchive``           unarchive; the status stays as it is
    ``DELETE …/sessions/{devin_id}?archive=bool``      terminate: status ``exit``, archived
        if asked; it cannot be resumed (a message to it is 409)
    ``GET|POST …/sessions/{devin_id}/messages``        the conversation, oldest first, cursor-
        paginated (``first`` 1..200, default 100, ``after``); send a message (resumes a
        suspended session)
    ``GET|POST|PUT …/sessions/{devin_id}/tags``        get, append (deduplicated), replace
    ``GET …/sessions/{devin_id}/attachments``          the files of the conversation

    Action responses (archive, unarchive, terminate, a sent message) carry ``status_detail``,
    ``category``, ``subcategory`` and ``structured_output`` as null, as the real API does (for
    a sent message *inferred*); GET and list fill them. Every change bumps ``updated_at``
    (integer Unix seconds, strictly increasing per session). Ordering, cursor and filter
    semantics: see ``store``; messages, tags and attachments: ``session_parts`` and
    ``conversations``. Auth rules: see ``routes``. Unknown session: 404. Bad params or body:
    422 with FastAPI-style ``errors``.

    Seeded sessions have believable conversations (``chat``), made when first read; in each
    org three are made to order: 2,000 messages, a message over 1 MiB, and hostile text
    (``GET /_fake/conversations`` names them).

Control endpoints (no auth; the fake is a test tool on loopback)
    ``GET|POST|DELETE /_fake/faults``   list / add (``{kind, count, method, path, status,
        retry_after, seconds}``) / clear injected faults; kinds in ``faults``
    ``GET /_fake/stats``                ``{in_flight, peak_in_flight, calls}`` (API calls only)
    ``POST /_fake/reset-stats``         clear the call log, peak := current in-flight
    ``GET /_fake/tokens``               ``{org_id: {"view": ..., "manage": ...}}``
    ``POST /_fake/latency``             ``{"seconds": 0.2}`` added to every API call
    ``POST /_fake/sessions/{org_id}``                 create a session from JSON fields
    ``POST /_fake/sessions/{org_id}/{session_id}``    update fields, e.g.
        ``{"status_detail": "finished"}`` (bumps ``updated_at``)
    ``POST /_fake/sessions/{org_id}/{session_id}/messages``   say something in a session,
        ``{"message": "...", "source": "devin"}`` (the status stays; bumps ``updated_at``)
    ``GET /_fake/conversations``        ``{org_id: {"long": id, "huge": id, "hostile": id}}``

Data is deterministic per seed (see ``seed``); tokens look real (``cog_`` + 40
alphanumerics) but are not secrets.

Modules: ``server`` (HTTP server, ``FakeDevin``), ``routes`` (request to response),
``query`` (the list endpoints' params), ``state`` (orgs, tokens, faults, call stats),
``store`` (sessions), ``session_parts`` (messages, tags, attachments), ``conversations``
(their storage), ``faults`` and ``part_faults``, ``seed`` and ``chat``. A development tool:
it lives next to the ``dashboard`` package, not in it, so the production wheel and image
leave it out.
"""

from __future__ import annotations

from .faults import FAULT_KINDS, Fault
from .server import FakeDevin

__all__ = ["FAULT_KINDS", "FakeDevin", "Fault"]
