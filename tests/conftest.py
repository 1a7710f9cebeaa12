from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery-staple"


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail(
            f"Chromium not found at {path}. The browser tests need Debian's Chromium: "
            "run `apt-get install -y chromium` (or set CHROMIUM_PATH). "
            "Do not run `playwright install`: it cannot download here.",
            pytrace=False,
        )
    return path


@pytest.fixture
def background_worker(live_server: Any, tmp_path: Any) -> Iterator[Any]:
    """A real `manage.py db_worker` on the live server's database: it runs what the pages queue
    (Sync now, the live refresh), and stops (SIGTERM) before the database is flushed."""
    from tests.workers import worker

    with worker(tmp_path) as process:
        yield process


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if anything was logged as an error or with a traceback (a would-be 500)."""
    yield
    escaped = [r for r in caplog.records if r.exc_info or r.levelname in ("ERROR", "CRITICAL")]
    assert escaped == [], [r.getMessage() for r in escaped]


@pytest.fixture
def make_user(django_user_model: Any) -> Any:
    def make(username: str, *, admin: bool = False) -> Any:
        user = django_user_model.objects.create_user(
            username=username, email=f"{username}@example.com", password=PASSWORD
        )
        if admin:
            user.is_staff = user.is_superuser = True
            user.save()
        return user

    return make


@pytest.fixture
def fake() -> Iterator[Any]:
    """The fake Devin API, serving over real HTTP on a free loopback port."""
    from fakedevin import FakeDevin

    with FakeDevin(seed=7, sessions_per_org=30) as server:
        server.start()
        yield server


# Named actors and orgs, built once per test. `acme` and `globex` point at the running fake with
# their manage tokens; the operator and viewer belong to acme, the outsider only to globex.
@pytest.fixture
def acme(fake: Any) -> Any:
    from dashboard.models import Organization

    org = Organization(name="Acme", org_id="org-acme", base_url=fake.url)
    org.set_token(fake.tokens["org-acme"]["manage"])
    org.save()
    return org


@pytest.fixture
def globex(fake: Any) -> Any:
    from dashboard.models import Organization

    org = Organization(name="Globex", org_id="org-globex", base_url=fake.url)
    org.set_token(fake.tokens["org-globex"]["manage"])
    org.save()
    return org


def _member(user: Any, org: Any, role: str) -> Any:
    from dashboard.models import Membership

    Membership.objects.create(user=user, org=org, role=role)
    return user


@pytest.fixture
def admin(make_user: Any) -> Any:
    return make_user("admin", admin=True)


@pytest.fixture
def operator(make_user: Any, acme: Any) -> Any:
    return _member(make_user("operator"), acme, "operator")


@pytest.fixture
def viewer(make_user: Any, acme: Any) -> Any:
    return _member(make_user("viewer"), acme, "viewer")


@pytest.fixture
def outsider(make_user: Any, globex: Any) -> Any:
    return _member(make_user("outsider"), globex, "operator")


@pytest.fixture
def world(
    fake: Any, acme: Any, globex: Any, admin: Any, operator: Any, viewer: Any, outsider: Any
) -> Any:
    """Every actor and org of the authorization matrix (tests/routes.py), and a session of acme."""
    from tests.routes import make_world

    users = {"admin": admin, "operator": operator, "viewer": viewer, "outsider": outsider}
    return make_world(fake, acme, globex, users)


@pytest.fixture
def login_as(live_server: Any) -> Any:
    """Sign a Playwright page in as a user without typing (the login page has its own test)."""
    from django.conf import settings
    from django.test import Client

    def login(page: Any, user: Any) -> Any:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": live_server.url}]
        )
        return page

    return login
