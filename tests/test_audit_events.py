"""Every kind of event the audit trail promises is recorded, by who and for which org.

One tour through the real views does each thing once; the test then checks the trail against the
list below. A new kind of action that matters belongs in this list.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dashboard import sync
from dashboard.models import AuditEvent, BulkRun, Organization, Session
from tests.conftest import PASSWORD
from tests.workers import run_queued_tasks

# The bulk archive task's threads have their own database connections.
pytestmark = pytest.mark.django_db(transaction=True)

# (action, outcome): what the issue asks the trail to cover.
REQUIRED = {
    ("sign_in", "ok"): "sign-in",
    ("sign_in", "failed"): "failed sign-in",
    ("sign_in_locked", "denied"): "locked sign-in",
    ("sign_out", "ok"): "sign-out",
    ("credential_created", "ok"): "credential added",
    ("credential_replaced", "ok"): "credential replaced",
    ("credential_tested", "ok"): "credential tested",
    ("archive", "ok"): "archive",
    ("unarchive", "ok"): "unarchive",
    ("bulk_archive", "ok"): "bulk run",
    ("sync", "ok"): "sync run",
    ("membership_changed", "ok"): "membership change",
    ("sign_in_unlocked", "ok"): "sign-in unlocked",
    ("password_reset", "ok"): "password reset by an admin",
    ("password_changed", "ok"): "password changed",
    ("signed_out_elsewhere", "ok"): "signed out everywhere else",
}


def wait_done(run_pk: int) -> None:
    run_queued_tasks()  # one db_worker pass, here
    assert BulkRun.objects.get(pk=run_pk).state == BulkRun.State.DONE


def test_the_trail_covers_every_kind_of_event(
    fake: Any, acme: Organization, globex: Organization, admin: Any, operator: Any, viewer: Any
) -> None:
    people = Client()
    # Sign-in, a failed one, sign-out.
    assert people.post("/login/", {"username": "admin", "password": "nope"}).status_code == 200
    assert people.post("/login/", {"username": "admin", "password": PASSWORD}).status_code == 302
    # Credentials: add an org, replace a token, test the connection.
    initech = {
        "name": "Initech",
        "org_id": "org-initech",
        "base_url": fake.url,
        "token": fake.tokens["org-initech"]["manage"],
    }
    assert people.post("/orgs/add/", initech).status_code == 302
    new_acme = {
        "name": "Acme",
        "org_id": "org-acme",
        "base_url": fake.url,
        "token": fake.tokens["org-acme"]["manage"],
    }
    assert people.post(f"/orgs/{acme.pk}/edit/", new_acme).status_code == 302
    assert people.post(f"/orgs/{acme.pk}/test/").status_code == 302
    # Membership.
    roles = {f"org_{org.pk}": "" for org in Organization.objects.all()}
    roles[f"org_{globex.pk}"] = "viewer"
    assert people.post(f"/team/{viewer.pk}/", roles).status_code == 302
    assert people.post("/logout/").status_code == 302

    # An operator: a sync, archive and unarchive of one session, a bulk archive.
    ops = Client()
    ops.force_login(operator)
    sync.sync_org(acme, user=operator)
    first, second, third = Session.objects.filter(org=acme, is_archived=False)[:3]
    assert ops.post(f"/sessions/{first.pk}/archive/").status_code == 302
    assert ops.post(f"/sessions/{first.pk}/unarchive/").status_code == 302
    response = ops.post(
        "/sessions/bulk-archive/", {"scope": "selected", "ids": [second.pk, third.pk]}
    )
    wait_done(int(response["Location"].rstrip("/").split("/")[-1]))

    # Someone guessing the viewer's password until locked out; an admin unlocks it.
    for _ in range(5):
        Client().post("/login/", {"username": "viewer", "password": "guess"})
    unlocker = Client()
    unlocker.force_login(admin)
    assert unlocker.post("/team/unlock/", {"username": "viewer"}).status_code == 302
    # An admin gives the operator a one-time password; the operator changes it, and signs out
    # their other sessions.
    page = unlocker.post(f"/team/{operator.pk}/password/", {"how": "one-time"})
    one_time = page.context["secret"]
    ops_again = Client()
    assert ops_again.post("/login/", {"username": "operator", "password": one_time}).status_code
    new = {"old_password": one_time, "new_password1": PASSWORD, "new_password2": PASSWORD}
    assert ops_again.post("/account/password/", new).status_code == 302
    assert ops_again.post("/account/sign-out-everywhere/").status_code == 302

    recorded = set(AuditEvent.objects.values_list("action", "outcome"))
    missing = [words for key, words in REQUIRED.items() if key not in recorded]
    assert not missing, f"not in the audit trail: {missing}"

    def one(action: str, **match: Any) -> AuditEvent:
        found = AuditEvent.objects.filter(action=action, **match).order_by("-pk").first()
        assert found is not None, (action, match)
        return found

    # Who and where, for each.
    assert one("sign_in", outcome="failed", actor_name="admin").actor is None
    assert one("sign_in", outcome="ok", actor_name="admin").actor == admin
    assert one("sign_out").actor == admin
    assert one("credential_created").org_label.startswith("Initech")
    replaced = one("credential_replaced")
    assert (replaced.actor, replaced.org) == (admin, acme)
    assert one("membership_changed").detail == "viewer: no access → viewer"
    assert one("membership_changed").org == globex
    synced = one("sync", actor=operator)
    assert synced.org == acme
    archived = one("archive", session_id=first.session_id, detail="")
    assert (archived.actor, archived.org, archived.outcome) == (operator, acme, "ok")
    assert one("unarchive").session_id == first.session_id
    bulk = one("bulk_archive")
    assert bulk.actor == operator and "2 sessions" in bulk.detail
    per_session = AuditEvent.objects.filter(action="archive", detail__startswith="bulk #")
    assert set(per_session.values_list("session_id", flat=True)) == {
        second.session_id,
        third.session_id,
    }
    assert one("sign_in_locked").actor_name == "viewer"
    assert one("sign_in_unlocked").actor == admin
    assert one("password_reset").detail == (
        "operator: one-time password, to be changed at their next sign-in"
    )
    assert one("password_changed").actor == operator
    assert one("signed_out_elsewhere").actor == operator
    # Events from a request say where it came from (the test client's address); bulk archive
    # events, written later by worker threads, carry the address of the request that started it.
    from_requests = AuditEvent.objects.exclude(action="sync").exclude(actor_name="sync job")
    from_requests = from_requests.exclude(action="sign_in", outcome="ok", ip__isnull=True)
    assert set(from_requests.values_list("ip", flat=True)) == {"127.0.0.1"}
