from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import Client

from dashboard import crypto, search
from dashboard.models import AuditEvent, Organization, Session

# A token nobody else uses, so that finding it anywhere means it leaked.
TOKEN = "cog_" + "SecretZebra7Quartz9Mango4Lantern2Rivet5"
OLD = "old:" + Fernet.generate_key().decode()
NEW = "new:" + Fernet.generate_key().decode()


def make_org(org_id: str, token: str = TOKEN) -> Organization:
    org = Organization(name=org_id.removeprefix("org-").title(), org_id=org_id)
    org.set_token(token)
    org.save()
    return org


def rotate() -> str:
    out = StringIO()
    call_command("rotate_credential_keys", stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_round_trip_tags_the_key_and_never_repeats_a_ciphertext() -> None:
    first, second = crypto.encrypt(TOKEN), crypto.encrypt(TOKEN)
    assert first.startswith("t1:")
    assert first != second
    assert TOKEN not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == TOKEN


def test_a_wrong_key_is_a_clear_error_not_a_value(settings: Any) -> None:
    stored = crypto.encrypt(TOKEN)
    settings.CREDENTIAL_KEYS = "t1:" + Fernet.generate_key().decode()  # same id, other key
    with pytest.raises(crypto.CredentialDecryptError) as caught:
        crypto.decrypt(stored)
    message = str(caught.value)
    assert "cannot be decrypted with the configured keys" in message
    assert "set the right key" in message and "re-enter the token" in message
    assert TOKEN not in message and stored not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.django_db
def test_an_org_under_an_unknown_key_cannot_build_a_client(settings: Any) -> None:
    org = make_org("org-acme")
    settings.CREDENTIAL_KEYS = NEW
    with pytest.raises(crypto.CredentialDecryptError):
        org.client()


@pytest.mark.django_db
def test_rotation_with_two_keys(settings: Any) -> None:
    settings.CREDENTIAL_KEYS = OLD
    acme, globex = make_org("org-acme"), make_org("org-globex", TOKEN[:-1] + "X")
    assert crypto.key_id_of(acme.token_ciphertext) == "old"

    # The new key first: it encrypts from now on, and the old one, second, still decrypts.
    settings.CREDENTIAL_KEYS = f"{NEW},{OLD}"
    initech = make_org("org-initech")
    assert crypto.key_id_of(initech.token_ciphertext) == "new"
    assert crypto.decrypt(acme.token_ciphertext) == TOKEN
    assert crypto.needs_rotation(acme.token_ciphertext)
    assert not crypto.needs_rotation(initech.token_ciphertext)

    assert rotate() == "re-encrypted 2, already current 1, failed 0"
    for org in (acme, globex, initech):
        org.refresh_from_db()
        assert crypto.key_id_of(org.token_ciphertext) == "new"
    assert rotate() == "re-encrypted 0, already current 3, failed 0"

    # With the old key gone, every token still opens.
    settings.CREDENTIAL_KEYS = NEW
    assert crypto.decrypt(acme.token_ciphertext) == TOKEN
    assert crypto.decrypt(globex.token_ciphertext) == TOKEN[:-1] + "X"
    # Rotation changes the ciphertext only: who set the token and its health stay.
    assert acme.token_last4 == TOKEN[-4:]
    events = AuditEvent.objects.filter(action="credential_reencrypted")
    assert sorted(e.org_label for e in events) == ["Acme (org-acme)", "Globex (org-globex)"]
    assert {e.detail for e in events} == {"key old → new"}


@pytest.mark.django_db
def test_a_mislabelled_ciphertext_still_decrypts_with_any_configured_key(settings: Any) -> None:
    settings.CREDENTIAL_KEYS = OLD
    stored = crypto.encrypt(TOKEN)
    settings.CREDENTIAL_KEYS = f"{NEW},{OLD}"
    assert crypto.decrypt("new:" + stored.partition(":")[2]) == TOKEN


# -- no plaintext anywhere in the database ----------------------------------------------------


def columns_containing(needle: str) -> list[str]:
    """Every table.column whose value, as text, contains needle: all tables, all columns."""
    hits = []
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                cursor.execute(
                    f"SELECT COUNT(*) FROM {qn(table)} "  # noqa: S608 - names from introspection
                    f"WHERE CAST({qn(column.name)} AS TEXT) LIKE %s",
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column.name}")
    return hits


@pytest.mark.django_db
def test_the_database_holds_no_plaintext_token(
    client: Client, admin: Any, fake: Any, tmp_path: Any
) -> None:
    fake.add_token("org-acme", TOKEN)
    client.force_login(admin)
    # Through every path that stores or uses a token: the add form, a replacement, the
    # credential commands, a connection test, and form errors.
    client.post(
        "/orgs/add/",
        {"name": "Acme", "org_id": "org-acme", "base_url": fake.url, "token": TOKEN},
    )
    acme = Organization.objects.get(org_id="org-acme")
    client.post(f"/orgs/{acme.pk}/test/")
    client.post("/orgs/add/", {"name": "", "org_id": "bad", "base_url": "", "token": TOKEN})
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    call_command(
        "add_org",
        "--org-id=org-globex",
        "--name=Globex",
        f"--base-url={fake.url}",
        f"--token-file={token_file}",
        stdout=StringIO(),
    )
    call_command(
        "set_credential", "--org-id=org-acme", f"--token-file={token_file}", stdout=StringIO()
    )
    acme.refresh_from_db()
    assert acme.health_detail == ""  # reset by set_credential; test again to store words
    client.post(f"/orgs/{acme.pk}/test/")
    acme.refresh_from_db()
    assert "can view sessions" in acme.health_detail

    assert AuditEvent.objects.filter(action__startswith="credential").count() >= 4
    for needle in (TOKEN, TOKEN.removeprefix("cog_"), TOKEN[10:30]):
        assert columns_containing(needle) == []

    # The scan does find what it looks for: a fragment planted in a session title.
    Session.objects.create(
        org=acme,
        session_id="devin-planted",
        title=f"planted {TOKEN[10:30]}",
        status="running",
        created_at=acme.created_at,
        updated_at=acme.created_at,
    )
    expected = ["dashboard_session.title"]
    if connection.vendor == "sqlite":  # the search index's view of titles, and its change log
        expected += [f"{search.FTS_TABLE}.title", f"{search.LOG_TABLE}.title"]
    assert sorted(columns_containing(TOKEN[10:30])) == sorted(expected)
