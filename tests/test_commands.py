from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from dashboard import crypto
from dashboard.models import AuditEvent, Organization

pytestmark = pytest.mark.django_db

TOKEN = "cog_" + "CommandLineToken" * 2 + "abcd1234"


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    options: dict[str, Any] = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command(*args, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def add_org(*extra: str, token_file: Path | str, stdin: str | None = None) -> str:
    out, _ = run(
        "add_org",
        "--org-id=org-initech",
        "--name=Initech",
        f"--token-file={token_file}",
        *extra,
        stdin=stdin,
    )
    return out


# -- add_org -----------------------------------------------------------------------------------


def test_add_org_reads_the_token_from_a_file(token_file: Path) -> None:
    out = add_org(token_file=token_file)
    org = Organization.objects.get()
    assert (org.name, org.org_id, org.base_url) == (
        "Initech",
        "org-initech",
        "https://api.devin.ai",
    )
    assert crypto.decrypt(org.token_ciphertext) == TOKEN
    assert out.strip() == (
        f"Added Initech (org-initech) at https://api.devin.ai with token cog_…{TOKEN[-4:]}."
    )
    assert TOKEN not in out
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_name, event.org) == (
        "credential_created",
        "command line",
        org,
    )


def test_add_org_reads_the_token_from_stdin(fake: Any) -> None:
    add_org(f"--base-url={fake.url}/", token_file="-", stdin=f"  {TOKEN}\n")
    org = Organization.objects.get()
    assert org.base_url == fake.url
    assert crypto.decrypt(org.token_ciphertext) == TOKEN


def test_stdin_defaults_to_the_process_stdin(
    token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKEN))
    call_command("add_org", "--org-id=org-x", "--name=X", "--token-file=-", stdout=io.StringIO())
    assert crypto.decrypt(Organization.objects.get().token_ciphertext) == TOKEN


def test_the_token_is_never_an_argument(token_file: Path) -> None:
    # Not even as an abbreviation of --token-file, which argparse allows by default.
    with pytest.raises(CommandError, match="arguments are required: --token-file"):
        call_command("add_org", "--org-id=org-x", "--name=X", f"--token={TOKEN}")
    with pytest.raises(CommandError, match="unrecognized arguments"):
        call_command("add_org", "--org-id=org-x", "--name=X", "--token-file=-", f"--token={TOKEN}")
    with pytest.raises(CommandError, match="takes the path of a file holding the token") as caught:
        call_command("set_credential", "--org-id=org-x", f"--token-file={TOKEN}")
    assert TOKEN not in str(caught.value)
    with pytest.raises(CommandError, match="the following arguments are required: --token-file"):
        call_command("add_org", "--org-id=org-x", "--name=X")


@pytest.mark.parametrize(
    ("args", "content", "error"),
    [
        ((), "", "No token in the token file"),
        ((), "   \n", "No token in the token file"),
        ((), "Bearer " + TOKEN, "token: A Devin token starts with cog_"),
        ((), "cog_short", "token: This does not look like a Devin token"),
        (("--org-id=initech",), TOKEN, "--org-id: A Devin org id starts with org-"),
        (("--base-url=http://example.com",), TOKEN, "--base-url: Use https://"),
        (("--base-url=ftp://api.devin.ai",), TOKEN, "--base-url: The API base URL must start"),
        (("--name=",), TOKEN, "--name: This field is required"),
    ],
)
def test_add_org_errors_are_clear(
    tmp_path: Path, args: tuple[str, ...], content: str, error: str
) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    with pytest.raises(CommandError) as caught:
        run("add_org", "--org-id=org-initech", "--name=Initech", f"--token-file={path}", *args)
    assert error in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert not Organization.objects.exists()
    assert not AuditEvent.objects.exists()


def test_add_org_reports_an_unreadable_token_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"Cannot read the token file .*missing: No such file"):
        add_org(token_file=tmp_path / "missing")


def test_add_org_rejects_a_duplicate(token_file: Path) -> None:
    add_org(token_file=token_file)
    with pytest.raises(CommandError, match="“Initech” already uses this org id"):
        add_org("--name=Again", "--base-url=https://api.devin.ai/", token_file=token_file)
    assert Organization.objects.count() == 1


# -- set_credential ----------------------------------------------------------------------------


def test_set_credential_replaces_the_token(token_file: Path, tmp_path: Path) -> None:
    add_org(token_file=token_file)
    Organization.objects.update(health="ok", can_manage=True)
    new = "cog_" + "Replacement" * 3 + "wxyz"
    out, _ = run("set_credential", "--org-id=org-initech", "--token-file=-", stdin=new)
    org = Organization.objects.get()
    assert crypto.decrypt(org.token_ciphertext) == new
    assert (org.token_last4, org.health, org.can_manage) == ("wxyz", "unknown", None)
    assert out.strip() == "Stored a new token for Initech (org-initech): cog_…wxyz."
    event = AuditEvent.objects.latest("pk")
    assert (event.action, event.org, event.actor_name) == (
        "credential_replaced",
        org,
        "command line",
    )
    assert new not in event.detail


def test_set_credential_needs_an_existing_org(token_file: Path) -> None:
    with pytest.raises(CommandError, match="No organization has org id org-nope. Add it"):
        run("set_credential", "--org-id=org-nope", f"--token-file={token_file}")


def test_set_credential_validates(token_file: Path, tmp_path: Path) -> None:
    add_org(token_file=token_file)
    bad = tmp_path / "bad"
    bad.write_text("not-a-token")
    with pytest.raises(CommandError, match="token: A Devin token starts with cog_"):
        run("set_credential", "--org-id=org-initech", f"--token-file={bad}")
    with pytest.raises(CommandError, match="A Devin org id starts with org-"):
        run("set_credential", "--org-id=initech", f"--token-file={token_file}")
    with pytest.raises(CommandError, match="Use https://"):
        run(
            "set_credential",
            "--org-id=org-initech",
            "--base-url=http://example.com",
            f"--token-file={token_file}",
        )
    assert crypto.decrypt(Organization.objects.get().token_ciphertext) == TOKEN


def test_set_credential_asks_which_api_when_an_org_id_is_shared(token_file: Path) -> None:
    add_org(token_file=token_file)
    add_org("--base-url=https://api.initech.devinenterprise.com", token_file=token_file)
    new = "cog_" + "Enterprise" * 3 + "ent1"
    with pytest.raises(CommandError, match="2 organizations have org id org-initech"):
        run("set_credential", "--org-id=org-initech", "--token-file=-", stdin=new)
    run(
        "set_credential",
        "--org-id=org-initech",
        "--base-url=https://API.initech.devinenterprise.com/",
        "--token-file=-",
        stdin=new,
    )
    enterprise = Organization.objects.get(base_url="https://api.initech.devinenterprise.com")
    public = Organization.objects.get(base_url="https://api.devin.ai")
    assert crypto.decrypt(enterprise.token_ciphertext) == new
    assert crypto.decrypt(public.token_ciphertext) == TOKEN


# -- keys --------------------------------------------------------------------------------------


def test_rotate_counts_and_fails_loudly_on_a_token_it_cannot_open(
    token_file: Path, settings: Any
) -> None:
    old = "old:" + Fernet.generate_key().decode()
    lost = "lost:" + Fernet.generate_key().decode()
    new = "new:" + Fernet.generate_key().decode()
    settings.CREDENTIAL_KEYS = old
    add_org(token_file=token_file)
    settings.CREDENTIAL_KEYS = lost
    add_org("--base-url=https://api.initech.devinenterprise.com", token_file=token_file)
    settings.CREDENTIAL_KEYS = f"{new},{old}"

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 token could not be decrypted"):
        call_command("rotate_credential_keys", stdout=out, stderr=err)
    assert out.getvalue().strip() == "re-encrypted 1, already current 0, failed 1"
    assert "Initech (org-initech): This credential cannot be decrypted" in err.getvalue()
    assert (
        crypto.key_id_of(Organization.objects.get(base_url="https://api.devin.ai").token_ciphertext)
        == "new"
    )
    failed = AuditEvent.objects.get(action="credential_decrypt_failed")
    assert failed.outcome == "failed"


def test_rotate_with_no_credentials() -> None:
    out, _ = run("rotate_credential_keys")
    assert out.strip() == "re-encrypted 0, already current 0, failed 0"


def test_generate_credential_key_prints_a_usable_key() -> None:
    out, _ = run("generate_credential_key")
    line = out.strip()
    assert re.fullmatch(r"k1:[A-Za-z0-9_-]{43}=", line)
    ring = crypto.parse_keys(line)
    assert ring.primary_id == "k1"
    assert ring.fernets[0].decrypt(ring.fernets[0].encrypt(b"x")) == b"x"
    assert run("generate_credential_key")[0].strip() != line


def test_generate_credential_key_takes_an_id() -> None:
    assert run("generate_credential_key", "--id=k2")[0].startswith("k2:")
    with pytest.raises(CommandError, match="--id: use 1 to 20 letters"):
        run("generate_credential_key", "--id=k2,k3")
