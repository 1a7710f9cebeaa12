"""Settings, read from the environment. Every variable is listed in README.md."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from dashboard import datadir

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """A string from NAME, or from the file named by NAME_FILE (for container secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE={path} cannot be read: {exc.strerror}"
            ) from None
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(os.environ.get("DASHBOARD_DATA_DIR", BASE_DIR / "data")).resolve()
# What had to be made private in the data dir at start (logged by dashboard.apps), and whether
# that failed; the data dir is only touched when it is used (SQLite, generated secrets).
DATA_DIR_TIGHTENED: list[str] = []
DATA_DIR_PROBLEM = ""


def _private_data_dir(*files: Path) -> None:
    global DATA_DIR_PROBLEM
    try:
        DATA_DIR_TIGHTENED.extend(datadir.make_private(DATA_DIR, *files))
    except OSError as exc:
        DATA_DIR_PROBLEM = f"{exc.strerror}: {exc.filename}"


def _local_secret(filename: str, make: str) -> str:
    """A secret kept in the data dir, created on first use. Only for DEBUG and the demo."""
    path = DATA_DIR / filename
    if not path.exists():
        _private_data_dir()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make)
    return path.read_text().strip()


# `manage.py generate_credential_key` makes the first key, so it must run before any is set; and
# a command's help (`manage.py demo --help`, `manage.py help demo`) must not ask for secrets.
NEEDS_NO_SECRETS = sys.argv[1:2] == ["generate_credential_key"] or (
    Path(sys.argv[0]).name == "manage.py"
    and (sys.argv[1:2] == ["help"] or any(arg in ("-h", "--help") for arg in sys.argv[2:]))
)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY and NEEDS_NO_SECRETS:
    SECRET_KEY = secrets.token_urlsafe(50)  # throwaway: the command signs nothing
elif not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE) to a long random string, "
            "or set DEBUG=true for local development."
        )
    SECRET_KEY = _local_secret("secret_key", secrets.token_urlsafe(50))

# Credential keys: "id:fernet-key,id:fernet-key"; the first encrypts, all decrypt.
# Kept apart from SECRET_KEY so that rotating one never strands the other.
CREDENTIAL_KEYS = env_str("DASHBOARD_CREDENTIAL_KEYS")
CREDENTIAL_KEYS_GENERATED = False
if not CREDENTIAL_KEYS and not NEEDS_NO_SECRETS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DASHBOARD_CREDENTIAL_KEYS is not set. Generate a key with "
            "`python manage.py generate_credential_key` and set "
            "DASHBOARD_CREDENTIAL_KEYS=k1:<key> (or DASHBOARD_CREDENTIAL_KEYS_FILE)."
        )
    from cryptography.fernet import Fernet

    CREDENTIAL_KEYS_GENERATED = not (DATA_DIR / "credential_keys").exists()
    CREDENTIAL_KEYS = _local_secret("credential_keys", "dev:" + Fernet.generate_key().decode())

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "axes",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # After WhiteNoise, so static files (hashed, cached forever) are not logged one per line.
    "dashboard.middleware.RequestIdMiddleware",
    # Pages compress ~9× (a sessions page: 120 kB to 13.5 kB) for 0.6 ms of CPU: Django's, at zlib
    # level 3 (6: 2.2 ms, 11.4 kB), its padding against BREACH kept. Static files never reach it:
    # WhiteNoise answers first, with files compressed at collectstatic time.
    "dashboard.compression.GZipMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before LoginRequiredMiddleware: a request from the sign-in proxy arrives signed in.
    "dashboard.proxyauth.ProxySignInMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "dashboard.middleware.IdleTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dashboard.middleware.RejectNulMiddleware",
    "dashboard.accounts.PasswordChangeRequiredMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into our 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "dashboard.context_processors.navigation",
            ],
        },
    },
]

# SQLite in the data dir by default; PostgreSQL (anything dj-database-url reads) via DATABASE_URL.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    _private_data_dir(DATA_DIR / "dashboard.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "dashboard.sqlite3"),
            "OPTIONS": {
                # WAL lets readers and the one writer work side by side; IMMEDIATE takes the write
                # lock at BEGIN, so the sync job and web threads queue (busy timeout) instead of
                # failing with "database is locked" on a lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Throttling first (it refuses a locked sign-in before any password is checked), then passwords,
# then the sign-in proxy's header (dashboard/proxyauth.py).
AUTHENTICATION_BACKENDS = [
    "dashboard.signin.ThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
    "dashboard.proxyauth.ProxyUserBackend",
]
# An admin's one-time reset link is valid this long (and once: it dies with the password).
PASSWORD_RESET_TIMEOUT = 24 * 3600

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sessions"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security. Secure cookies and HSTS follow DEBUG unless set explicitly.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Health checks probe the app directly over plain HTTP; a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = int(env_number("SECURE_HSTS_SECONDS", 0))
# HSTS is sent only when configured (it binds browsers for its whole lifetime). Subdomains of the
# dashboard's own host are covered by default; the public preload list is a domain-wide promise
# that an internal tool should not make for its company, so its check is silenced unless opted in.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


# The client's address, for sign-in throttling and the audit trail. Directly exposed, it is
# REMOTE_ADDR. Behind a reverse proxy, name the header the proxy sets (X-Forwarded-For) and which
# hops to trust: a count of proxies in front of the app, or their addresses/networks. Hops beyond
# those are the client's to forge, so they are never believed.
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _meta_key(name: str) -> str:
    """The request.META key of the HTTP header named by NAME, or "" when unset."""
    header = env_str(name).strip()
    return "HTTP_" + header.upper().replace("-", "_") if header else ""


def _trusted_proxies(name: str, default: str) -> int | list[_Network]:
    value = os.environ.get(name, "").strip() or default
    if re.fullmatch(r"[0-9]+", value):  # not str.isdigit(): "²" is a digit int() refuses
        return int(value)
    try:
        return [ipaddress.ip_network(item.strip(), strict=False) for item in value.split(",")]
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{name} must be a number of proxies or a comma-separated list of addresses or "
            f"networks: {exc}"
        ) from None


CLIENT_IP_HEADER = _meta_key("DASHBOARD_CLIENT_IP_HEADER")
TRUSTED_PROXIES = _trusted_proxies("DASHBOARD_TRUSTED_PROXIES", "1" if CLIENT_IP_HEADER else "0")
# Sign-in throttling (django-axes, dashboard/signin.py): this many failed sign-ins for one username
# from one address, each within this many seconds of the one before, lock that pair out for that
# many seconds after the last (or until an admin unlocks it).
SIGN_IN_ATTEMPTS = max(1, int(env_number("DASHBOARD_SIGN_IN_ATTEMPTS", 5)))
SIGN_IN_LOCKOUT = max(1, int(env_number("DASHBOARD_SIGN_IN_LOCKOUT", 15 * 60)))
AXES_HANDLER = "dashboard.signin.GatedHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Read at each use, so that the two settings above stay the one source.
AXES_FAILURE_LIMIT = "dashboard.signin.failure_limit"
AXES_COOLOFF_TIME = "dashboard.signin.cool_off"
AXES_CLIENT_IP_CALLABLE = "dashboard.proxies.client_ip"
AXES_LOCKOUT_CALLABLE = "dashboard.signin.lockout_response"
AXES_RESET_ON_SUCCESS = True
# The audit trail records sign-ins; unlocks go through the Team page so that they are audited.
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

# Sign-in through an authenticating proxy (oauth2-proxy, Authelia, ...): the header that names the
# user, believed only from DASHBOARD_TRUSTED_PROXIES, which must then list the proxy's addresses.
AUTH_HEADER = _meta_key("DASHBOARD_AUTH_HEADER")
AUTH_CREATE_USERS = env_bool("DASHBOARD_AUTH_CREATE_USERS", False)
AUTH_LOGOUT_URL = env_str("DASHBOARD_AUTH_LOGOUT_URL").strip()
if AUTH_HEADER and not isinstance(TRUSTED_PROXIES, list):
    raise ImproperlyConfigured(
        "DASHBOARD_AUTH_HEADER needs DASHBOARD_TRUSTED_PROXIES to list the sign-in proxy's "
        "addresses or networks (e.g. 127.0.0.1), not a count: only requests from them may sign "
        "someone in."
    )

# Idle timeout: a session ends after this much inactivity. dashboard.middleware's
# IdleTimeoutMiddleware renews it at most once a minute, so a page view writes nothing.
SESSION_COOKIE_AGE = int(env_number("SESSION_IDLE_TIMEOUT", 8 * 3600))
SESSION_SAVE_EVERY_REQUEST = False

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# The Devin API.
DEVIN_CONNECT_TIMEOUT = env_number("DEVIN_CONNECT_TIMEOUT", 5.0)
DEVIN_READ_TIMEOUT = env_number("DEVIN_READ_TIMEOUT", 20.0)
DEVIN_RETRY_BUDGET = env_number("DEVIN_RETRY_BUDGET", 10.0)
BULK_CONCURRENCY = int(env_number("DASHBOARD_BULK_CONCURRENCY", 8))
SYNC_OVERLAP_SECONDS = int(env_number("DASHBOARD_SYNC_OVERLAP", 300))
LIVE_REFRESH_SECONDS = int(env_number("DASHBOARD_LIVE_REFRESH", 15))
# A person's own action (archive, unarchive, track, test connection) answers within this many
# seconds, retries and re-read included: well below a reverse proxy's usual 60-75 s timeout.
ACTION_DEADLINE_SECONDS = env_number("DASHBOARD_ACTION_DEADLINE", 15.0)
# A 429's Retry-After is honoured up to this; beyond it the item fails and the run goes on.
RETRY_AFTER_CAP_SECONDS = env_number("DASHBOARD_RETRY_AFTER_CAP", 60.0)
# A background run (sync, bulk) holds a lease that its worker renews while it works; a run whose
# lease has expired belongs to no worker any more (killed, OOM, machine lost) and is recovered.
RUN_LEASE_SECONDS = env_number("DASHBOARD_RUN_LEASE", 60.0)

# Background work: Django's Tasks framework, queued in the database (django-tasks-db) and run by
# `manage.py db_worker` processes; never by threads of a web worker.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
SESSIONS_PER_PAGE = 50
# Rendered rows of the sessions table (templates/dashboard/sessions.html), in each process's
# memory: the table of a page of 50 rows takes ~5 ms of CPU from here instead of ~20-25 ms.
# Keyed by each row's content, so a changed session is rendered afresh; ~2.5 kB a row.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "rows": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "session-rows",
        "TIMEOUT": 24 * 3600,
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
}

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "dashboard.logs.RedactTokens"},
        "request_id": {"()": "dashboard.middleware.RequestIdFilter"},
    },
    "formatters": {"line": {"()": "dashboard.logs.LineFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "line",
            "filters": ["redact", "request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
        "httpx": {"level": "WARNING"},
        # Axes narrates every sign-in at INFO; the audit trail already records them.
        "axes": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
