"""Deterministic, believable demo data for the fake Devin API.

Everything here is a pure function of ``(seed, org_id, now)``: the same seed gives the same
tokens and the same sessions, so screenshots, tests and benchmarks are reproducible. Each org
gets its own ``random.Random`` (seeded with a string, which Python hashes deterministically,
independent of ``PYTHONHASHSEED``), so adding an org or changing one org's session count does
not reshuffle the others.

Coverage is guaranteed rather than left to chance: the first sessions of every org walk
through every (status, status_detail) pair in ``STATUS_COMBOS`` and every category, so even
the default 60 sessions per org show every badge the dashboard has to render.
"""

from __future__ import annotations

import bisect
import random
import string
from typing import Any

DEMO_ORGS: dict[str, str] = {
    "org-acme": "Acme",
    "org-globex": "Globex",
    "org-initech": "Initech",
}

# (GitHub owner, repositories) per demo org; other orgs get a generic set.
_REPOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "org-acme": (
        "acme",
        (
            "payments-service",
            "billing",
            "web-app",
            "mobile-app",
            "infra",
            "auth-service",
            "data-pipeline",
        ),
    ),
    "org-globex": (
        "globex",
        ("storefront", "inventory-api", "search", "terraform", "analytics", "notifications"),
    ),
    "org-initech": (
        "initech",
        ("tps-reports", "intranet", "hr-portal", "etl-jobs", "printer-service"),
    ),
}
_GENERIC_REPOS = ("api", "web", "worker", "infra", "docs")

_MODULES = (
    "checkout",
    "invoices",
    "auth",
    "notifications",
    "search",
    "webhooks",
    "reports",
    "user settings",
    "orders",
    "ledger",
    "rate limiter",
    "feature flags",
)

# Every pair that makes sense, with a weight for the random part of the data set. Only
# running and suspended have documented details; "error" also appears as a detail of the
# error status in practice, so both shapes exist.
STATUS_COMBOS: tuple[tuple[str, str | None, int], ...] = (
    ("new", None, 2),
    ("claimed", None, 1),
    ("resuming", None, 1),
    ("running", "working", 6),
    ("running", "waiting_for_user", 4),
    ("running", "waiting_for_approval", 2),
    ("running", "finished", 10),
    ("exit", None, 30),
    ("error", None, 2),
    ("error", "error", 2),
    ("suspended", "inactivity", 20),
    ("suspended", "user_request", 6),
    ("suspended", "usage_limit_exceeded", 2),
    ("suspended", "out_of_credits", 1),
    ("suspended", "out_of_quota", 1),
    ("suspended", "no_quota_allocation", 1),
    ("suspended", "payment_declined", 1),
    ("suspended", "org_usage_limit_exceeded", 1),
    ("suspended", "user_usage_limit_exceeded", 1),
    ("suspended", "total_session_limit_exceeded", 1),
    ("suspended", "error", 2),
)
ACTIVE_STATUSES = frozenset({"new", "claimed", "running", "resuming"})
_TERMINAL_STATUSES = frozenset({"exit", "error", "suspended"})

# category -> (subcategories, title templates). Titles match their category so the data
# reads like a real team's backlog.
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bug_fixing": (
        ("Bug fix", "Flaky test", "Regression"),
        (
            "Fix flaky test in {repo}",
            "Fix race condition in {module} cache invalidation",
            "Fix off-by-one in {module} pagination",
            "Fix timezone bug in {module} reports",
            "Fix N+1 query on the {module} list page",
        ),
    ),
    "ci_cd_and_devops": (
        ("CI pipeline", "Deployment", "Infrastructure"),
        (
            "Migrate {repo} CI from CircleCI to GitHub Actions",
            "Speed up {repo} Docker build with layer caching",
            "Add staging deploy workflow for {repo}",
            "Pin Terraform provider versions in {repo}",
        ),
    ),
    "code_quality_and_security": (
        ("Linting", "Dependency audit", "Type checking"),
        (
            "Enable ruff and fix lint errors in {repo}",
            "Resolve Dependabot alerts in {repo}",
            "Add type hints to {module} in {repo}",
        ),
    ),
    "code_review": (
        ("Pull request review",),
        ("Review PR #{n} in {repo}", "Review open PRs before the {repo} release"),
    ),
    "code_review_and_analysis": (
        ("Codebase analysis", "Architecture review"),
        (
            "Analyze {module} coupling in {repo}",
            "Map call sites of the deprecated {module} API",
        ),
    ),
    "data_and_automation": (
        ("ETL", "Scripting"),
        (
            "Backfill {module} events into the warehouse",
            "Write a script to dedupe {module} records",
            "Automate the weekly {module} report",
        ),
    ),
    "documentation_and_content": (
        ("API docs", "README", "Runbook"),
        (
            "Document the {module} API",
            "Update {repo} README with local setup steps",
            "Write a runbook for {module} outages",
        ),
    ),
    "feature_development": (
        ("New feature", "UI"),
        (
            "Add CSV export to the {module} page",
            "Add dark mode toggle to {repo} settings",
            "Add webhook retries with backoff to {repo}",
            "Implement SSO login for {repo}",
        ),
    ),
    "migrations_and_upgrades": (
        ("Framework upgrade", "Dependency upgrade", "Database migration"),
        (
            "Upgrade Django to 5.2 in {repo}",
            "Upgrade React to 19 in {repo}",
            "Bump Python to 3.13 in {repo}",
            "Migrate {module} jobs from Celery to RQ",
        ),
    ),
    "other": (
        (),
        ("Set up the {repo} dev environment", "Answer a question about {module}"),
    ),
    "production_investigation": (
        ("Incident", "Performance"),
        (
            "Investigate 500s on /checkout in {repo}",
            "Investigate memory leak in the {module} worker",
            "Triage Sentry error: KeyError in {module}",
        ),
    ),
    "refactoring_and_optimization": (
        ("Refactor", "Performance"),
        (
            "Refactor {module} out of the {repo} monolith",
            "Remove dead feature flags in {repo}",
            "Optimize the slow {module} query",
        ),
    ),
    "research_and_exploration": (
        ("Spike", "Evaluation"),
        (
            "Spike: evaluate pgvector for {module} search",
            "Compare OpenTelemetry exporters for {repo}",
        ),
    ),
    "security": (
        ("Vulnerability fix", "Secrets"),
        (
            "Patch SSRF in the {module} URL fetcher",
            "Rotate leaked API key in {repo} config",
            "Add CSRF protection to {module} forms",
        ),
    ),
    "unit_test_generation": (
        ("Unit tests", "Coverage"),
        (
            "Write unit tests for {module} in {repo}",
            "Raise {module} test coverage to 80%",
        ),
    ),
}
_CATEGORY_NAMES = tuple(CATEGORIES)

TAGS = (
    "backend",
    "frontend",
    "infra",
    "urgent",
    "customer",
    "tech-debt",
    "security",
    "ci",
    "docs",
    "data",
)
ORIGINS: tuple[tuple[str, int], ...] = (
    ("webapp", 30),
    ("slack", 25),
    ("api", 10),
    ("linear", 8),
    ("jira", 6),
    ("automation", 6),
    ("cli", 5),
    ("desktop", 3),
    ("teams", 3),
    ("code_scan", 2),
    ("other", 2),
)
_DEVIN_MODES: tuple[tuple[str | None, int], ...] = (
    ("normal", 60),
    ("fast", 15),
    ("lite", 10),
    ("ultra", 5),
    ("fusion", 3),
    (None, 7),
)
_ALNUM = string.ascii_letters + string.digits
_DAY = 86_400
HISTORY_DAYS = 42


def org_name(org_id: str) -> str:
    """Display name for an org id: the demo name, or one derived from the id."""
    if org_id in DEMO_ORGS:
        return DEMO_ORGS[org_id]
    return org_id.removeprefix("org-").replace("-", " ").title() or org_id


def make_token(seed: int, org_id: str, perm: str) -> str:
    """A token shaped like a real one: ``cog_`` plus 40 alphanumerics, fixed for a seed."""
    rng = random.Random(f"{seed}:{org_id}:token:{perm}")
    return "cog_" + "".join(rng.choices(_ALNUM, k=40))


def make_service_user_id(seed: int, org_id: str, perm: str) -> str:
    rng = random.Random(f"{seed}:{org_id}:service-user:{perm}")
    return f"service-user-{rng.getrandbits(64):016x}"


def _weighted[T](choices: tuple[tuple[T, int], ...]) -> tuple[tuple[T, ...], list[int]]:
    values = tuple(value for value, _ in choices)
    cumulative: list[int] = []
    total = 0
    for _, weight in choices:
        total += weight
        cumulative.append(total)
    return values, cumulative


_COMBO_VALUES, _COMBO_CUM = _weighted(tuple(((s, d), w) for s, d, w in STATUS_COMBOS))
_ORIGIN_VALUES, _ORIGIN_CUM = _weighted(ORIGINS)
_MODE_VALUES, _MODE_CUM = _weighted(_DEVIN_MODES)


def _pick[T](rng: random.Random, values: tuple[T, ...], cumulative: list[int]) -> T:
    # Same as rng.choices(values, cum_weights=...)[0], without the per-call list overhead:
    # generation of 100k sessions runs this a few hundred thousand times.
    return values[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def _pr_state(rng: random.Random, status: str) -> str | None:
    roll = rng.random()
    if roll < 0.05:
        return None  # the API sometimes does not know the state yet
    if status in ACTIVE_STATUSES:
        return "draft" if roll < 0.45 else "open"
    if roll < 0.60:
        return "merged"
    if roll < 0.80:
        return "open"
    if roll < 0.92:
        return "closed"
    return "draft"


def generate_sessions(org_id: str, count: int, *, seed: int, now: int) -> list[dict[str, Any]]:
    """``count`` SessionResponse dicts for one org, oldest first.

    Timestamps lie in the ``HISTORY_DAYS`` before ``now``. Active sessions (new, claimed,
    running, resuming) are recent and were updated recently; finished ones ran for minutes to
    hours. Only finished sessions are archived, because archiving puts a running session to
    sleep.
    """
    rng = random.Random(f"{seed}:{org_id}:sessions")
    owner, repos = _REPOS.get(org_id, (org_id.removeprefix("org-") or "example", _GENERIC_REPOS))
    users = [f"user-{rng.getrandbits(48):012x}" for _ in range(12)]
    service_users = [f"service-user-{rng.getrandbits(64):016x}" for _ in range(2)]
    playbooks = [f"playbook-{rng.getrandbits(64):016x}" for _ in range(4)]
    automations = [f"automation-{rng.getrandbits(64):016x}" for _ in range(3)]
    n_combos = len(STATUS_COMBOS)
    n_categories = len(_CATEGORY_NAMES)
    history = HISTORY_DAYS * _DAY

    sessions: list[dict[str, Any]] = []
    for i in range(count):
        covering = i < max(n_combos, n_categories)
        if i < n_combos:
            status, status_detail = STATUS_COMBOS[i][:2]
        else:
            status, status_detail = _pick(rng, _COMBO_VALUES, _COMBO_CUM)
        active = status in ACTIVE_STATUSES

        if active:
            created_at = now - rng.randint(60, 2 * _DAY)
            updated_at = now - rng.randint(0, min(3600, now - created_at))
        else:
            created_at = now - rng.randint(3600, history)
            updated_at = min(now, created_at + rng.randint(120, 6 * 3600))

        if covering:
            category: str | None = _CATEGORY_NAMES[i % n_categories]
        elif status in ("new", "claimed") or rng.random() < 0.04:
            category = None  # categorisation has not run (yet)
        else:
            category = rng.choice(_CATEGORY_NAMES)
        subcategory: str | None = None
        if category is not None:
            subcategories, templates = CATEGORIES[category]
            subcategory = rng.choice(subcategories) if subcategories else "Other"
        else:
            templates = CATEGORIES[rng.choice(_CATEGORY_NAMES)][1]
        repo = rng.choice(repos)
        title: str | None = rng.choice(templates).format(
            repo=repo, module=rng.choice(_MODULES), n=rng.randint(100, 4000)
        )
        if status == "new" and not covering and rng.random() < 0.5:
            title = None  # Devin names a session once it starts working

        roll = rng.random()
        n_tags = 0 if roll < 0.3 else 1 if roll < 0.7 else 2 if roll < 0.9 else 3
        tags = rng.sample(TAGS, n_tags)

        origin = _pick(rng, _ORIGIN_VALUES, _ORIGIN_CUM)
        if origin in ("api", "automation"):
            user_id = None
            service_user_id: str | None = rng.choice(service_users)
        else:
            user_id = rng.choice(users)
            service_user_id = None

        pull_requests: list[dict[str, Any]] = []
        if status not in ("new", "claimed"):
            roll = rng.random()
            n_prs = 0 if roll < 0.45 else 1 if roll < 0.85 else 2 if roll < 0.95 else 3
            for _ in range(n_prs):
                pr_repo = repo if rng.random() < 0.8 else rng.choice(repos)
                pr_number = rng.randint(12, 4800)
                pull_requests.append(
                    {
                        "pr_url": f"https://github.com/{owner}/{pr_repo}/pull/{pr_number}",
                        "pr_state": _pr_state(rng, status),
                    }
                )

        acus = 0.0 if status in ("new", "claimed") else round(rng.lognormvariate(1.0, 0.9), 2)
        structured_output = None
        if status_detail == "finished" or (status == "exit" and rng.random() < 0.25):
            structured_output = {
                "summary": f"Done: {title or 'task'}",
                "tests_passed": rng.random() < 0.85,
                "files_changed": rng.randint(1, 40),
                "pull_request_url": pull_requests[0]["pr_url"] if pull_requests else None,
            }

        is_archived = False
        if status in _TERMINAL_STATUSES:
            if covering:
                is_archived = i % 3 == 0
            elif now - created_at > 7 * _DAY and rng.random() < 0.25:
                is_archived = True
                # Archiving happened later and is itself an update.
                updated_at = min(now, updated_at + rng.randint(3600, 5 * _DAY))

        hex_id = f"{rng.getrandbits(128):032x}"
        sessions.append(
            {
                "session_id": f"devin-{hex_id}",
                "url": f"https://app.devin.ai/sessions/{hex_id}",
                "status": status,
                "status_detail": status_detail,
                "title": title,
                "tags": tags,
                "org_id": org_id,
                "created_at": created_at,
                "updated_at": updated_at,
                "acus_consumed": acus,
                "pull_requests": pull_requests,
                "is_archived": is_archived,
                "category": category,
                "subcategory": subcategory,
                "origin": origin,
                "parent_session_id": None,
                "child_session_ids": None,
                "user_id": user_id,
                "service_user_id": service_user_id,
                "playbook_id": rng.choice(playbooks) if rng.random() < 0.15 else None,
                "automation_id": rng.choice(automations) if origin == "automation" else None,
                "devin_mode": _pick(rng, _MODE_VALUES, _MODE_CUM),
                "structured_output": structured_output,
            }
        )

    sessions.sort(key=lambda s: (s["created_at"], s["session_id"]))
    _link_children(rng, sessions)
    return sessions


def _link_children(rng: random.Random, sessions: list[dict[str, Any]]) -> None:
    """Make ~7% of sessions children of a recent earlier session (Devin spawning Devins)."""
    linked = False
    for index in range(1, len(sessions)):
        if rng.random() >= 0.07 and (linked or index != len(sessions) - 1):
            continue  # (the last iteration forces one link so small data sets have one)
        parent = sessions[index - rng.randint(1, min(index, 40))]
        child = sessions[index]
        child["parent_session_id"] = parent["session_id"]
        parent["child_session_ids"] = [*(parent["child_session_ids"] or ()), child["session_id"]]
        linked = True
