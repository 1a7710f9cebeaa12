"""Test settings: production settings (DEBUG off) with throwaway secrets and a faster hasher."""

from __future__ import annotations

import os
import tempfile

from cryptography.fernet import Fernet

# Set before dashboard.settings reads them; subprocesses that tests start inherit them too.
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 40)
os.environ.setdefault("DASHBOARD_CREDENTIAL_KEYS", "t1:" + Fernet.generate_key().decode())
os.environ.setdefault("DASHBOARD_DATA_DIR", tempfile.mkdtemp(prefix="dashboard-test-"))
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
# Playwright's sync API runs an event loop in the test thread; the ORM calls in the same tests
# are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from dashboard.settings import *  # noqa: E402,F403
from dashboard.settings import DATA_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests render pages without running collectstatic first (a test runs collectstatic on its own).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The test server speaks plain HTTP on loopback.
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
DEVIN_RETRY_BUDGET = 1.0
DEVIN_READ_TIMEOUT = 5.0
# Serve static files straight from static/ and the apps, as DEBUG does, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# A file, not shared-cache memory, for the test database: worker processes (tests/workers.py),
# bulk archive threads and the live server then meet WAL and the busy timeout, as in production,
# instead of shared-cache table locks.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
# A worker or scheduler process that a test starts (tests/workers.py) uses that test's database.
if os.environ.get("DASHBOARD_TEST_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["DASHBOARD_TEST_DB_NAME"]
