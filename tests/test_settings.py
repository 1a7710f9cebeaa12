from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-production-secret-" + "k" * 40,
    "ALLOWED_HOSTS": "dashboard.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://dashboard.example.com",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_PROXY_SSL_HEADER": "true",
}


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path: Path) -> None:
    env = {
        **PRODUCTION,
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(tmp_path),
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_missing_secret_key_with_debug_off_is_a_clear_startup_error(tmp_path: Path) -> None:
    env = {**PRODUCTION, "SECRET_KEY": "", "DASHBOARD_DATA_DIR": str(tmp_path)}
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_missing_credential_keys_with_debug_off_say_what_to_set(tmp_path: Path) -> None:
    env = {**PRODUCTION, "DASHBOARD_CREDENTIAL_KEYS": "", "DASHBOARD_DATA_DIR": str(tmp_path)}
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "DASHBOARD_CREDENTIAL_KEYS is not set" in result.stderr


def test_secret_key_file_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-" + "s" * 50 + "\n")
    env = {
        **PRODUCTION,
        "SECRET_KEY": "",
        "SECRET_KEY_FILE": str(secret),
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(tmp_path),
    }
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        **env,
    )
    assert result.returncode == 0, result.stderr
    # The last line: the file, 0644 in the data dir, was made private first, and the log said so.
    assert result.stdout.strip().splitlines()[-1] == "from-a-file-" + "s" * 50


def test_debug_generates_secrets_into_the_data_dir_once(tmp_path: Path) -> None:
    env = {
        "DEBUG": "true",
        "SECRET_KEY": "",
        "DASHBOARD_CREDENTIAL_KEYS": "",
        "DASHBOARD_DATA_DIR": str(tmp_path),
    }
    code = "from django.conf import settings; print(settings.SECRET_KEY)"
    first = run_manage("shell", "--no-imports", "-c", code, **env)
    second = run_manage("shell", "--no-imports", "-c", code, **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert (tmp_path / "secret_key").read_text().strip() == first.stdout.strip()
    assert (tmp_path / "credential_keys").read_text().startswith("dev:")


def test_collectstatic_with_compressed_manifest(tmp_path: Path) -> None:
    env = {
        **PRODUCTION,
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(tmp_path),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    result = run_manage("collectstatic", "--noinput", **env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists()
    assert list((tmp_path / "static" / "css").glob("app.*.css.gz"))
    assert list((tmp_path / "static" / "django_htmx").glob("htmx-2.min.*.js"))


def test_the_first_credential_key_can_be_made_before_any_is_set(tmp_path: Path) -> None:
    env = {
        **PRODUCTION,
        "SECRET_KEY": "",
        "DASHBOARD_CREDENTIAL_KEYS": "",
        "DASHBOARD_DATA_DIR": str(tmp_path),
    }
    result = run_manage("generate_credential_key", **env)
    assert result.returncode == 0, result.stderr
    key_id, _, key = result.stdout.strip().partition(":")
    assert key_id == "k1"
    Fernet(key.encode())  # a valid key
    assert not (tmp_path / "secret_key").exists()
