from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.templatetags.dashboard import ago, label, link_url, pr_badge, status_badge


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (10, "just now"),
        (50, "50 seconds ago"),
        (61, "1 minute ago"),
        (3599, "1 hour ago"),
        (2 * 3600, "2 hours ago"),
        (3 * 86400, "3 days ago"),
        (10 * 86400, "1 week ago"),
        (45 * 86400, "1 month ago"),
        (800 * 86400, "2 years ago"),
        (-10, "just now"),
        (-2 * 3600, "in 2 hours"),
    ],
)
def test_ago(seconds: int, text: str) -> None:
    assert ago(timezone.now() - timedelta(seconds=seconds)) == text


def test_ago_of_nothing_is_empty() -> None:
    assert ago(None) == ""


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://github.com/a/b/pull/1", "https://github.com/a/b/pull/1"),
        ("http://example.com", "http://example.com"),
        ("javascript:alert(1)", ""),
        ("JavaScript:alert(1)", ""),
        ("data:text/html,<b>x</b>", ""),
        ("//evil.example/x", ""),
        ("https://", ""),
        ("not a url", ""),
        (None, ""),
    ],
)
def test_only_http_urls_become_links(url: object, link: str) -> None:
    assert link_url(url) == link


def test_badges_fall_back_to_neutral_for_unknown_values() -> None:
    assert status_badge("running", "waiting_for_user") == "warn"
    assert status_badge("running", "finished") == "ok"
    assert status_badge("error") == "bad"
    assert status_badge("hibernating") == "neutral"
    assert pr_badge("merged") == "merged"
    assert pr_badge(None) == pr_badge("weird") == "neutral"
    assert label("ci_cd_and_devops") == "CI/CD and DevOps"
    assert label("bug_fixing") == "Bug fixing"
    assert label("hibernating") == "Hibernating"
