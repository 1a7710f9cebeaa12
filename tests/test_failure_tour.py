"""A full failure tour: every fault of the fake API, during a sync, an archive and a connection
test, with every logger at DEBUG. The org's token must appear in no log record and no response.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client, override_settings

from dashboard import sync
from dashboard.models import AuditEvent, Organization, Session
from fakedevin.faults import FAULT_KINDS

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
# Loggers that do not propagate to the root (where pytest listens), or sit above DEBUG.
QUIET = ("django", "django.request", "django.server", "httpx", "httpcore", "dashboard")
OPTIONS: dict[str, dict[str, Any]] = {
    "latency": {"seconds": 0.2},
    "status": {"status": 503, "retry_after": "0"},
    "429": {"retry_after": "0"},
    "hang": {"seconds": 2},
}


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in QUIET:
        caplog.set_level(logging.DEBUG, logger=name)
    django_logger = logging.getLogger("django")
    django_logger.addHandler(caplog.handler)  # it does not propagate
    try:
        yield caplog
    finally:
        django_logger.removeHandler(caplog.handler)


def leaks(token: str, records: list[logging.LogRecord]) -> list[str]:
    found = []
    for record in records:
        parts = [str(record.msg), str(record.args), str(record.exc_text)]
        parts += [str(value) for value in vars(record).values()]
        with contextlib.suppress(TypeError, ValueError):  # a broken format string
            parts.append(record.getMessage())
        if any(token in part for part in parts):
            found.append(f"{record.name}: {record.msg!r}")
    return found


def body(response: Any) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    return headers + "\n" + response.content.decode()


@override_settings(DEVIN_READ_TIMEOUT=0.5, DEVIN_CONNECT_TIMEOUT=0.5, DEVIN_RETRY_BUDGET=0.5)
def test_no_fault_leaks_the_token(
    every_log: pytest.LogCaptureFixture,
    fake: Any,
    acme: Organization,
    admin: Any,
    operator: Any,
) -> None:
    token = fake.tokens["org-acme"]["manage"]
    assert sync.sync_org(acme).state == "ok"
    target = Session.objects.filter(org=acme, is_archived=False).first()
    assert target is not None
    ops, admins = Client(), Client()
    ops.force_login(operator)
    admins.force_login(admin)

    responses: dict[str, Any] = {}
    for kind in FAULT_KINDS:
        fake.inject(kind, count=None, **OPTIONS.get(kind, {}))
        try:
            sync.sync_org(acme)
            url = f"/sessions/{target.pk}/archive/"
            responses[f"{kind}: archive"] = ops.post(url, follow=True)
            responses[f"{kind}: archive (htmx)"] = ops.post(url, headers=HTMX)
            test_url = f"/orgs/{acme.pk}/test/"
            responses[f"{kind}: test connection"] = admins.post(test_url, follow=True)
            responses[f"{kind}: test connection (htmx)"] = admins.post(test_url, headers=HTMX)
            responses[f"{kind}: orgs page"] = admins.get("/orgs/")
            responses[f"{kind}: sessions page"] = ops.get("/?archived=all")
            responses[f"{kind}: audit page"] = admins.get("/audit/")
        finally:
            fake.clear_faults()
        # Put the session back for the next fault's archive.
        Session.objects.filter(pk=target.pk).update(is_archived=False)

    assert all(response.status_code < 500 for response in responses.values())
    leaked = [label for label, response in responses.items() if token in body(response)]
    assert leaked == []
    assert leaks(token, every_log.records) == []
    assert token not in every_log.text
    # The tour did meet failures, and they were logged and audited (without the token).
    failed = AuditEvent.objects.filter(outcome="failed")
    assert failed.filter(action="sync").exists()
    assert failed.filter(action="archive").exists()
    assert failed.filter(action="credential_tested").exists()
    assert not AuditEvent.objects.filter(detail__contains=token).exists()
    assert any(r.levelno >= logging.WARNING for r in every_log.records)
    assert any(r.name.startswith("httpx") for r in every_log.records)
