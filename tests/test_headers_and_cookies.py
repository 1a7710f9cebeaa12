"""Security headers, cookie flags and settings driven by the environment (the idle timeout:
test_idle_timeout.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.test import Client

from tests.conftest import PASSWORD
from tests.test_settings import PRODUCTION, run_manage

pytestmark = pytest.mark.django_db


def test_security_headers_on_pages(client: Client, make_user: Any) -> None:
    make_user("ops")
    for response in (client.get("/login/"), client.get("/healthz")):
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
    csp = client.get("/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in csp


def test_no_hsts_or_proxy_header_trust_unless_configured() -> None:
    # The test settings are the production defaults: neither is configured.
    assert settings.SECURE_HSTS_SECONDS == 0
    assert settings.SECURE_PROXY_SSL_HEADER is None


def test_session_and_csrf_cookies_flags(client: Client, make_user: Any) -> None:
    make_user("ops")
    csrf = client.get("/login/").cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["samesite"] == "Lax"
    response = client.post("/login/", {"username": "ops", "password": PASSWORD})
    assert response.status_code == 302
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


SHOW = (
    "from django.conf import settings as s; import json; print(json.dumps({k: getattr(s, k, None) "
    "for k in ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', "
    "'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_AGE', 'SESSION_SAVE_EVERY_REQUEST', "
    "'CLIENT_IP_HEADER', 'TRUSTED_PROXIES', 'SIGN_IN_ATTEMPTS', 'SIGN_IN_LOCKOUT']}))"
)


def settings_under(tmp_path: Path, **env: str) -> dict[str, Any]:
    base = {
        "SECRET_KEY": "a-long-random-production-secret-" + "k" * 40,
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "dashboard.example.com",
        "SECURE_HSTS_SECONDS": "",
        "SECURE_PROXY_SSL_HEADER": "",
        "SESSION_COOKIE_SECURE": "",
        "CSRF_COOKIE_SECURE": "",
    }
    result = run_manage("shell", "--no-imports", "-c", SHOW, **{**base, **env})
    assert result.returncode == 0, result.stderr
    values: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


def test_production_defaults_are_secure_and_configurable(tmp_path: Path) -> None:
    plain = settings_under(tmp_path, DEBUG="false")
    assert plain["SESSION_COOKIE_SECURE"] is True
    assert plain["CSRF_COOKIE_SECURE"] is True
    assert plain["SECURE_HSTS_SECONDS"] == 0
    assert plain["SECURE_PROXY_SSL_HEADER"] is None
    assert plain["SESSION_COOKIE_AGE"] == 8 * 3600
    assert plain["SESSION_SAVE_EVERY_REQUEST"] is False  # renewed once a minute instead
    assert plain["CLIENT_IP_HEADER"] == ""
    assert plain["TRUSTED_PROXIES"] == 0
    assert (plain["SIGN_IN_ATTEMPTS"], plain["SIGN_IN_LOCKOUT"]) == (5, 900)

    documented = settings_under(
        tmp_path,
        **{k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"},
        SESSION_IDLE_TIMEOUT="1800",
        DASHBOARD_CLIENT_IP_HEADER="X-Forwarded-For",
    )
    assert documented["SECURE_HSTS_SECONDS"] == 31536000
    assert documented["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert documented["SESSION_COOKIE_AGE"] == 1800
    assert documented["CLIENT_IP_HEADER"] == "HTTP_X_FORWARDED_FOR"
    assert documented["TRUSTED_PROXIES"] == 1

    development = settings_under(tmp_path, DEBUG="true")
    assert development["SESSION_COOKIE_SECURE"] is False
    assert development["CSRF_COOKIE_SECURE"] is False


@pytest.mark.parametrize("value", ["²", "1x", "10.0.0.0/33"])
def test_a_bad_trusted_proxies_value_is_a_clear_configuration_error(
    tmp_path: Path, value: str
) -> None:
    env = {
        **PRODUCTION,
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(tmp_path),
        "DASHBOARD_TRUSTED_PROXIES": value,
    }
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "DASHBOARD_TRUSTED_PROXIES must be a number of proxies" in result.stderr
    assert "ValueError" not in result.stderr.replace("ImproperlyConfigured", "")


def test_check_deploy_is_clean_behind_a_proxy_with_throttling_configured(tmp_path: Path) -> None:
    env = {
        **PRODUCTION,
        "DASHBOARD_CREDENTIAL_KEYS": "k1:" + Fernet.generate_key().decode(),
        "DASHBOARD_DATA_DIR": str(tmp_path),
        "DASHBOARD_CLIENT_IP_HEADER": "X-Forwarded-For",
        "DASHBOARD_TRUSTED_PROXIES": "10.0.0.0/8",
        "DASHBOARD_SIGN_IN_ATTEMPTS": "10",
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
