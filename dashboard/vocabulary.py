"""The Devin API's enums in words: each value's label, badge colour and whether it needs a human.

Statuses, status details, categories, origins and PR states are listed here once; the filter
menus, badges, labels, the sessions page's views and the live view read them from here.

One colour language: ATTENTION (amber) only for a session that waits on a person (a question, an
approval, or a finished session's open pull request), BAD (red) for errors, INFO (blue) while
Devin works, OK (green) for a finished piece of work, NEUTRAL for everything calm (a normal end,
a suspension by request or inactivity, a new session). Every enum is open (the API may add
values): an unknown value gets the neutral badge and a label made from its own words, never an
error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# Badge colours, as the `badge-<colour>` classes of static/css/app.css name them.
NEUTRAL = "neutral"
INFO = "info"
OK = "ok"
WARN = "warn"
ATTENTION = WARN  # the one meaning of the amber badge: a person is needed
BAD = "bad"
MERGED = "merged"


@dataclass(frozen=True)
class Term:
    value: str
    label: str
    badge: str = NEUTRAL
    # A person has to do something before the session can go on (answer, approve, look at an
    # error).
    needs_human: bool = False


def _terms(*terms: Term) -> dict[str, Term]:
    return {term.value: term for term in terms}


# In the order the filter menus offer them.
STATUSES = _terms(
    Term("new", "New"),
    Term("claimed", "Claimed", INFO),
    Term("running", "Running", INFO),
    Term("resuming", "Resuming", INFO),
    # A suspension (asked for, or after inactivity) and an exit are normal ends: calm.
    Term("suspended", "Suspended"),
    Term("exit", "Exit"),
    Term("error", "Error", BAD, needs_human=True),
)
# Statuses that end a session: it no longer changes by itself. Any other known status may still
# change (a suspended session can wake up), so the sessions page keeps those rows fresh.
FINAL_STATUSES = frozenset({"exit", "error"})
LIVE_STATUSES = frozenset(STATUSES) - FINAL_STATUSES

# A running session's detail says more than its status, so its badge colours the status badge.
# The details of other statuses keep their status's colour (status_badge).
RUNNING_DETAILS = _terms(
    Term("working", "Working", INFO),
    Term("waiting_for_user", "Waiting for user", ATTENTION, needs_human=True),
    Term("waiting_for_approval", "Waiting for approval", ATTENTION, needs_human=True),
    Term("finished", "Finished", OK),
)
STATUS_DETAILS = {
    **RUNNING_DETAILS,
    **_terms(
        Term("inactivity", "Inactivity"),
        Term("user_request", "User request"),
        Term("usage_limit_exceeded", "Usage limit exceeded"),
        Term("out_of_credits", "Out of credits"),
        Term("out_of_quota", "Out of quota"),
        Term("no_quota_allocation", "No quota allocation"),
        Term("payment_declined", "Payment declined"),
        Term("org_usage_limit_exceeded", "Org usage limit exceeded"),
        Term("user_usage_limit_exceeded", "User usage limit exceeded"),
        Term("total_session_limit_exceeded", "Total session limit exceeded"),
        Term("error", "Error", needs_human=True),
    ),
}

CATEGORIES = _terms(
    Term("bug_fixing", "Bug fixing"),
    Term("ci_cd_and_devops", "CI/CD and DevOps"),
    Term("code_quality_and_security", "Code quality and security"),
    Term("code_review", "Code review"),
    Term("code_review_and_analysis", "Code review and analysis"),
    Term("data_and_automation", "Data and automation"),
    Term("documentation_and_content", "Documentation and content"),
    Term("feature_development", "Feature development"),
    Term("migrations_and_upgrades", "Migrations and upgrades"),
    Term("other", "Other"),
    Term("production_investigation", "Production investigation"),
    Term("refactoring_and_optimization", "Refactoring and optimization"),
    Term("research_and_exploration", "Research and exploration"),
    Term("security", "Security"),
    Term("unit_test_generation", "Unit test generation"),
)

ORIGINS = _terms(
    Term("webapp", "Web app"),
    Term("slack", "Slack"),
    Term("teams", "Teams"),
    Term("api", "API"),
    Term("linear", "Linear"),
    Term("jira", "Jira"),
    Term("automation", "Automation"),
    Term("cli", "CLI"),
    Term("desktop", "Desktop"),
    Term("code_scan", "Code scan"),
    Term("other", "Other"),
)

# The API's pr_state is a free string or null; null is stored and filtered as PR_UNKNOWN.
PR_UNKNOWN = "unknown"
PR_STATES = _terms(
    Term("open", "Open", OK),
    Term("draft", "Draft"),
    Term("merged", "Merged", MERGED),
    Term("closed", "Closed"),
    Term(PR_UNKNOWN, "Unknown"),
)

# One label per value whatever the enum ("other", "error" are in two); tests hold them equal.
_LABELS = {
    term.value: term.label
    for terms in (STATUSES, STATUS_DETAILS, CATEGORIES, ORIGINS, PR_STATES)
    for term in terms.values()
}


def readable(value: str) -> str:
    """`waiting_for_ci` -> `Waiting for ci`: the label of a value this module does not know."""
    words = value.replace("_", " ")
    return words[:1].upper() + words[1:]


def term(terms: Mapping[str, Term], value: str | None) -> Term:
    """The term of `value` in one of the enums above; an unknown one is neutral and readable."""
    value = value or ""
    return terms.get(value) or Term(value, readable(value))


def label(value: str | None) -> str:
    """What a person reads for `value` of any of the enums (filter menus, tables, charts)."""
    value = value or ""
    return _LABELS.get(value) or readable(value)


def status_badge(status: str, detail: str | None = "") -> str:
    """The badge colour of a session's status, coloured by its detail while it runs."""
    if status == "running" and detail in RUNNING_DETAILS:
        return RUNNING_DETAILS[detail].badge
    return term(STATUSES, status).badge


def pr_badge(state: str | None) -> str:
    return term(PR_STATES, state or PR_UNKNOWN).badge


def needs_human(status: str, detail: str | None = "") -> bool:
    """Whether the session waits on a person: a question, an approval or an error."""
    return term(STATUSES, status).needs_human or term(STATUS_DETAILS, detail).needs_human


def finished_with_open_pr(detail: str | None, pr_states: Iterable[str | None]) -> bool:
    """Devin is done and a pull request is still open: it waits for a review."""
    return detail == "finished" and "open" in pr_states


def session_badge(status: str, detail: str | None, pr_states: Iterable[str | None]) -> str:
    """A session's badge colour: attention for a finished session with an open PR too."""
    if finished_with_open_pr(detail, pr_states):
        return ATTENTION
    if detail == "error":
        return BAD
    return status_badge(status, detail)


# What each colour means, in the legend beside the sessions table (and nothing else).
LEGEND = (
    (ATTENTION, "Needs attention", "waiting for an answer or approval, or done with an open PR"),
    (BAD, "Error", "it stopped on an error"),
    (INFO, "Working", "Devin is at work"),
    (OK, "Finished", "Devin is done and no PR is left open"),
    (NEUTRAL, "Calm", "new, suspended (by request or inactivity) or exited: nothing to do"),
)


@dataclass(frozen=True)
class View:
    value: str
    label: str
    title: str


# The sessions page's views, in the order it offers them: who needs a human comes first.
VIEWS = {
    view.value: view
    for view in (
        View(
            "attention",
            "Needs attention",
            "Waiting for user or approval, errors, and finished sessions with an open PR",
        ),
        View("running", "Running", "New, claimed, running or resuming"),
        View("finished", "Finished", "Exited or suspended"),
        View("all", "All", "Every session that is not archived"),
        View("archived", "Archived", "Archived sessions"),
    )
}
RUNNING_STATUSES = ("new", "claimed", "running", "resuming")
ENDED_STATUSES = ("exit", "suspended")
ATTENTION_DETAILS = tuple(v for v, t in RUNNING_DETAILS.items() if t.needs_human)
# The status chips each view offers: the statuses its sessions have.
VIEW_STATUSES = {
    "attention": ("running", "error"),
    "running": RUNNING_STATUSES,
    "finished": ENDED_STATUSES,
    "all": tuple(STATUSES),
    "archived": tuple(STATUSES),
}

# github.com/owner/repo/pull/1, gitlab.com/group/sub/repo/-/merge_requests/1 (and similar hosts).
_PR_PATH = re.compile(r"^/(?P<repo>.+?)/(?:-/)?(?:pulls?|merge_requests)/(?P<number>\d+)(?:/|$)")


def pr_ref(url: object) -> str:
    """`https://github.com/acme/api/pull/123` -> `api#123`, GitLab's merge requests alike;
    anything else: the URL's last part (the full URL goes in the badge's title)."""
    url = url.strip() if isinstance(url, str) else ""
    try:
        path = urlsplit(url).path
    except ValueError:
        path = url
    match = _PR_PATH.match(path)
    if match:
        return f"{match['repo'].rsplit('/', 1)[-1]}#{match['number']}"
    return url.rstrip("/").rsplit("/", 1)[-1][:80] or "PR"
