from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client
from django.utils import timezone

from dashboard import filters, vocabulary
from dashboard.models import Session
from dashboard.templatetags import dashboard as tags
from dashboard.vocabulary import Term

ROOT = Path(__file__).resolve().parent.parent
ENUMS = {
    "status": vocabulary.STATUSES,
    "status_detail": vocabulary.STATUS_DETAILS,
    "category": vocabulary.CATEGORIES,
    "origin": vocabulary.ORIGINS,
    "pr_state": vocabulary.PR_STATES,
}
ALL_TERMS = [term for terms in ENUMS.values() for term in terms.values()]


def spec_enum(field: str) -> list[str]:
    spec = yaml.safe_load((ROOT / "tests/spec/devin-v3-sessions.openapi.yaml").read_text())
    schema = spec["components"]["schemas"]["SessionResponse"]["properties"][field]
    for option in schema.get("anyOf", [schema]):
        if "enum" in option:
            return list(option["enum"])
    raise AssertionError(f"no enum for {field}")


@pytest.mark.parametrize("field", ["status", "status_detail", "category", "origin"])
def test_every_value_of_the_spec_has_a_term(field: str) -> None:
    assert set(ENUMS[field]) == set(spec_enum(field))


def test_every_value_has_one_label() -> None:
    for terms in ENUMS.values():
        for value, term in terms.items():
            assert term.value == value
            assert term.label.strip() and "_" not in term.label
            # A value in two enums ("other", "error") reads the same in both.
            assert vocabulary.label(value) == term.label
    # Within an enum, two values never read alike.
    for terms in ENUMS.values():
        labels = [term.label for term in terms.values()]
        assert len(labels) == len(set(labels))


def test_labels_people_write() -> None:
    assert vocabulary.label("ci_cd_and_devops") == "CI/CD and DevOps"
    assert vocabulary.label("api") == "API"
    assert vocabulary.label("cli") == "CLI"
    assert vocabulary.label("webapp") == "Web app"
    assert vocabulary.label("bug_fixing") == "Bug fixing"
    assert vocabulary.label("waiting_for_user") == "Waiting for user"
    assert vocabulary.label("merged") == "Merged"


def test_every_badge_is_a_css_class() -> None:
    css = (ROOT / "static/css/app.css").read_text()
    defined = set(re.findall(r"\.badge-([a-z]+)\s*\{", css))
    assert {term.badge for term in ALL_TERMS} <= defined
    assert {vocabulary.term(vocabulary.STATUSES, "x").badge} <= defined


@pytest.mark.parametrize(
    ("status", "detail", "badge"),
    [
        ("new", "", "neutral"),
        ("claimed", "", "info"),
        ("running", "", "info"),
        ("running", "working", "info"),
        ("running", "waiting_for_user", "warn"),
        ("running", "waiting_for_approval", "warn"),
        ("running", "finished", "ok"),
        ("running", "inactivity", "info"),
        ("resuming", "", "info"),
        # A normal end is calm: suspended (by request or inactivity) and exit are neutral.
        ("suspended", "inactivity", "neutral"),
        ("suspended", "user_request", "neutral"),
        # Only a running session takes its colour from its detail.
        ("suspended", "error", "neutral"),
        ("suspended", "finished", "neutral"),
        ("exit", "", "neutral"),
        ("error", "error", "bad"),
        ("hibernating", "waiting_for_user", "neutral"),
        ("", None, "neutral"),
    ],
)
def test_status_badges(status: str, detail: str | None, badge: str) -> None:
    assert vocabulary.status_badge(status, detail) == badge
    assert tags.status_badge(status, detail) == badge


@pytest.mark.parametrize(
    ("state", "badge"),
    [
        ("open", "ok"),
        ("draft", "neutral"),
        ("merged", "merged"),
        ("closed", "neutral"),
        ("unknown", "neutral"),
        (None, "neutral"),
        ("superseded", "neutral"),
    ],
)
def test_pr_badges(state: str | None, badge: str) -> None:
    assert vocabulary.pr_badge(state) == badge
    assert tags.pr_badge(state) == badge


def test_unknown_values_fall_back_to_a_neutral_readable_term() -> None:
    assert vocabulary.term(vocabulary.STATUSES, "hibernating") == Term(
        "hibernating", "Hibernating", "neutral", needs_human=False
    )
    assert vocabulary.term(vocabulary.CATEGORIES, "waiting_for_CI") == Term(
        "waiting_for_CI", "Waiting for CI"
    )
    assert vocabulary.term(vocabulary.ORIGINS, None) == Term("", "")
    assert vocabulary.label("carrier_pigeon") == "Carrier pigeon"
    assert vocabulary.label("") == vocabulary.label(None) == ""
    assert tags.label("carrier_pigeon") == "Carrier pigeon"
    # The filter menus offer an unknown value from the link, with the same fallback label.
    assert filters.choices(filters.ORIGINS, "carrier_pigeon")[-1] == (
        "carrier_pigeon",
        "Carrier pigeon",
    )


def test_needs_a_human() -> None:
    assert vocabulary.needs_human("running", "waiting_for_user")
    assert vocabulary.needs_human("running", "waiting_for_approval")
    assert vocabulary.needs_human("error")
    assert vocabulary.needs_human("suspended", "error")
    assert not vocabulary.needs_human("running", "working")
    assert not vocabulary.needs_human("running", "finished")
    assert not vocabulary.needs_human("suspended", "inactivity")
    assert not vocabulary.needs_human("hibernating", "waiting_for_ci")
    assert vocabulary.finished_with_open_pr("finished", ["merged", "open"])
    assert not vocabulary.finished_with_open_pr("finished", ["merged", None])
    assert not vocabulary.finished_with_open_pr("working", ["open"])


def test_live_statuses_are_the_known_ones_that_are_not_final() -> None:
    live = vocabulary.LIVE_STATUSES
    assert live == {"new", "claimed", "running", "resuming", "suspended"}
    assert Session.LIVE_STATUSES is live


def test_filter_menus_list_the_vocabulary_in_order() -> None:
    menus = (filters.STATUSES, filters.STATUS_DETAILS, filters.CATEGORIES, filters.ORIGINS)
    assert menus[0] == ["new", "claimed", "running", "resuming", "suspended", "exit", "error"]
    assert list(menus) == [
        list(vocabulary.STATUSES),
        list(vocabulary.STATUS_DETAILS),
        list(vocabulary.CATEGORIES),
        list(vocabulary.ORIGINS),
    ]
    assert menus[2][:2] == ["bug_fixing", "ci_cd_and_devops"]
    prs = filters.PR_STATES
    assert prs == ["open", "draft", "merged", "closed", "unknown"]
    assert filters.PR_FILTERS["merged"] == "Merged"


@pytest.mark.parametrize("field", ["status", "status_detail", "category", "origin", "pr_state"])
def test_filter_choices_and_table_use_one_label(field: str) -> None:
    known = {
        "status": filters.STATUSES,
        "status_detail": filters.STATUS_DETAILS,
        "category": filters.CATEGORIES,
        "origin": filters.ORIGINS,
        "pr_state": filters.PR_STATES,
    }[field]
    for value, text in filters.choices(known, ""):
        assert text == tags.label(value) == ENUMS[field][value].label


@pytest.mark.django_db
def test_the_sessions_page_labels_a_value_alike_in_filter_and_table(
    client: Client, acme: Any, operator: Any
) -> None:
    now = timezone.now()
    Session.objects.create(
        org=acme,
        session_id="devin-words",
        title="Words",
        status="running",
        status_detail="waiting_for_approval",
        category="ci_cd_and_devops",
        origin="api",
        pull_requests=[{"pr_url": "https://github.com/acme/x/pull/1", "pr_state": "merged"}],
        pr_states="|merged|",
        created_at=now,
        updated_at=now,
    )
    client.force_login(operator)
    page = html.unescape(client.get("/?q=devin-words").content.decode())
    row = page.split('id="session-')[1]

    for name, value, text in [
        ("status", "running", "Running"),
        ("detail", "waiting_for_approval", "Waiting for approval"),
        ("category", "ci_cd_and_devops", "CI/CD and DevOps"),
        ("origin", "api", "API"),
        ("pr", "merged", "Merged"),
    ]:
        offered = re.search(rf'name="{name}"[^>]*value="{value}"[^>]*>\s*{re.escape(text)}<', page)
        option = re.search(rf'<option value="{value}"\s*>{re.escape(text)}<', page)
        assert offered or option, (name, value)
        assert f">{text}<" in row or f"· {text}<" in row, (name, text)
    # Waiting for approval needs a person: the attention colour and mark.
    assert 'class="badge badge-warn attn">Running<' in row
    assert 'class="badge badge-merged pr"' in row and ">x#1 · Merged<" in row


def test_the_fakes_seed_speaks_the_vocabulary() -> None:
    """The fake's data uses the same values the dashboard labels, so the two cannot drift."""
    from fakedevin import seed

    for status, detail, _weight in seed.STATUS_COMBOS:
        assert status in vocabulary.STATUSES
        assert detail is None or detail in vocabulary.STATUS_DETAILS
    assert set(seed.CATEGORIES) <= set(vocabulary.CATEGORIES)
    assert {origin for origin, _weight in seed.ORIGINS} <= set(vocabulary.ORIGINS)
    assert seed.ACTIVE_STATUSES <= vocabulary.LIVE_STATUSES


@pytest.mark.parametrize(
    ("status", "detail", "prs", "badge"),
    [
        ("running", "waiting_for_user", [], "warn"),
        ("running", "waiting_for_approval", [], "warn"),
        ("running", "finished", ["open"], "warn"),
        ("running", "finished", ["merged"], "ok"),
        ("running", "working", ["open"], "info"),
        ("error", "", [], "bad"),
        ("suspended", "error", [], "bad"),
        ("suspended", "user_request", [], "neutral"),
        ("suspended", "inactivity", [], "neutral"),
        ("exit", "", ["open"], "neutral"),
    ],
)
def test_one_colour_language(status: str, detail: str, prs: list[str], badge: str) -> None:
    """Amber means a person is needed, and nothing else is amber; red is an error."""
    assert vocabulary.session_badge(status, detail, prs) == badge
    attention = vocabulary.needs_human(status, detail) and status != "error" and detail != "error"
    attention = attention or vocabulary.finished_with_open_pr(detail, prs)
    assert (badge == vocabulary.ATTENTION) == attention
    # The legend names every colour a session badge takes.
    assert badge in {colour for colour, _word, _meaning in vocabulary.LEGEND}


@pytest.mark.parametrize(
    ("url", "ref"),
    [
        ("https://github.com/acme/billing/pull/12", "billing#12"),
        ("https://github.com/acme/billing/pull/12/files", "billing#12"),
        ("https://gitlab.com/acme/group/api/-/merge_requests/7", "api#7"),
        ("https://git.example.com/acme/api/pulls/3", "api#3"),
        ("https://example.com/reviews/abc", "abc"),
        ("javascript:alert(1)", "javascript:alert(1)"),
        ("", "PR"),
        (None, "PR"),
        (12, "PR"),
    ],
)
def test_pr_refs(url: object, ref: str) -> None:
    assert vocabulary.pr_ref(url) == ref
