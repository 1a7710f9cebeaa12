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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture
def make_user(django_user_model: Any) -> Any:
    def make(username: str, *, admin: bool = False, **memberships: str) -> Any:
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
    from dashboard.fakedevin import FakeDevin

    with FakeDevin(seed=7, sessions_per_org=30) as server:
        server.start()
        yield server
