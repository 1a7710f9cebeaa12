"""Believable conversations for the fake's sessions: what people asked and what Devin answered.

A pure function of ``(seed, session)``, like ``seed``: the same session gets the same messages.
A conversation follows the session's story: the task (from the title), Devin's plan, progress
with code blocks in markdown fences, follow-ups, and an ending that fits the status (a question
when it waits for the user, a summary with the pull requests when it is done, a traceback when
it failed). Some messages are long; a few carry hostile text a user pasted (script tags,
``javascript:`` links), as real conversations about XSS bugs do.

Three conversations are made to order (``FEATURES``): ``long`` (2,000 messages), ``huge`` (one
message over 1 MiB) and ``hostile`` (every trick a renderer must defuse, attachments included).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .seed import ACTIVE_STATUSES

Message = dict[str, Any]  # a SessionMessage as JSON: event_id, source, message, created_at
Attachment = dict[str, Any]  # a SessionAttachment as JSON
Session = dict[str, Any]

LONG_MESSAGES = 2_000
HUGE_MESSAGE_CHARS = 1_048_576 + 1_000  # a little over 1 MiB
ATTACHMENT_HOST = "https://app.devin.ai/attachments"

_OPENERS = (
    "{task}. The code is in {repo}. Open a PR when you are done.",
    "Hi Devin! Could you take this one: {task}? Repo: {repo}.",
    "{task}.\n\nContext: customers started noticing this week. Please keep the change small "
    "and add a test. Repo is {repo}.",
    "Please {task_lower} ({repo}). Ping me here if anything is unclear.",
)
_PLANS = (
    "On it. I'll start by reading the code around this and running the tests.",
    "Thanks! Here is my plan:\n\n1. Reproduce the problem locally\n2. Find the cause\n"
    "3. Fix it with a regression test\n4. Open a PR and make sure CI is green",
    "I've cloned {repo} and I'm setting up the environment. The test suite takes about four "
    "minutes here, so I'll run only the relevant part while I work.",
)
_PROGRESS = (
    "Found it: the cache key ignores the tenant, so two tenants can read each other's entry.",
    "The test suite passes locally. CI is running now.",
    "CI failed on an unrelated flaky test (`test_export_large`). I re-ran it and it passed.",
    "I pushed a first version. Next I'm adding tests for the edge cases.",
    "Heads up: the lint step wants type hints on the new helper, adding them now.",
)
_FOLLOW_UPS = (
    "Thanks. Please also make sure it works on Python 3.12.",
    "Looks good so far. Can you add a note to the changelog?",
    "Keep the public API as it is, other teams import it.",
    "Any idea why this started only last week?",
    "ok",
)
_QUESTIONS = (
    "Should I also backfill the rows written before the fix, or only fix new writes?",
    "The failing test depends on the system time zone. Do you want me to pin it to UTC in CI, "
    "or make the code independent of it?",
    "I need credentials for the staging database to verify the migration. Can you add them as "
    "a secret, or should I skip that check?",
)
_APPROVALS = (
    "I'd like to run the migration on staging now (about 2 minutes of write lock on "
    "`invoices`). Approve?",
    "The fix needs a new dependency (`tenacity`). OK to add it?",
)
_HOSTILE_REPORTS = (
    "Users report that this comment executes in the admin page: "
    "<img src=x onerror=alert(document.cookie)>. Please sanitize it.",
    "The profile link field accepts [this](javascript:alert(1)) and renders it as a link. "
    "Only http(s) should be allowed.",
    "Repro: set the title to <script>alert('xss')</script> and open the list page.",
)
_SNIPPETS = (
    (
        "python",
        "def paginate(items, page, size):\n"
        "    start = (page - 1) * size\n"
        "    return items[start : start + size]\n",
    ),
    (
        "diff",
        "--- a/app/cache.py\n+++ b/app/cache.py\n@@ -12,7 +12,8 @@ def invalidate(key):\n"
        '-    cache.delete(key)\n+    with lock:\n+        cache.delete(f"{tenant}:{key}")\n',
    ),
    (
        "bash",
        "$ pytest -q tests/test_reports.py\n....F\n"
        "FAILED tests/test_reports.py::test_timezone - AssertionError: 23 != 0\n",
    ),
    ("sql", "SELECT id, total FROM invoices\nWHERE created_at >= %s\nORDER BY id\nLIMIT 100;\n"),
    (
        "yaml",
        "jobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: make test\n",
    ),
    # HTML inside a code block: shown as code, never run.
    ("html", '<button onclick="save()">Save</button>\n<script src="/static/app.js"></script>\n'),
)
_TRACEBACK = (
    "I hit an error I can't get past:\n\n```\nTraceback (most recent call last):\n"
    '  File "manage.py", line 22, in <module>\n    main()\n'
    "django.db.utils.OperationalError: could not connect to server: Connection refused\n```\n\n"
    "The database container does not start in this environment."
)
_ATTACHMENT_KINDS = (
    ("user", "error.log", "text/plain"),
    ("user", "screenshot.png", "image/png"),
    ("user", "design.pdf", "application/pdf"),
    ("devin", "coverage-report.html", "text/html"),
    ("devin", "fix.patch", None),
    ("devin", "query-plan.txt", "text/plain"),
)


def _code_block(rng: random.Random) -> str:
    language, code = rng.choice(_SNIPPETS)
    return f"```{language}\n{code}```"


def _long_plan(rng: random.Random, task: str) -> str:
    steps = [
        f"{n}. {rng.choice(_PROGRESS)} {rng.choice(_PROGRESS)}"
        for n in range(1, rng.randint(6, 12))
    ]
    return (
        f"Before I change anything, here is what I found about *{task}*.\n\n"
        + "\n".join(steps)
        + "\n\nThe change itself is small:\n\n"
        + _code_block(rng)
        + "\n\nI'll keep going unless you'd like a different approach. "
        + " ".join(rng.choice(_PROGRESS) for _ in range(8))
    )


class _Writer:
    """Appends messages with ids and times that only move forward."""

    def __init__(self, rng: random.Random, start: int, end: int, count: int) -> None:
        self.rng = rng
        self.messages: list[Message] = []
        self._time = start
        self._step = max(0, end - start) // max(1, count)

    def say(self, source: str, text: str) -> None:
        self._time += self.rng.randint(0, self._step) if self._step else 0
        self.messages.append(
            {
                "event_id": f"event-{self.rng.getrandbits(96):024x}",
                "source": source,
                "message": text,
                "created_at": self._time,
            }
        )


def _writer(rng: random.Random, session: Session, count: int) -> _Writer:
    return _Writer(rng, session["created_at"], session["updated_at"], count)


def _task(session: Session) -> tuple[str, str]:
    title = session.get("title") or "Look into the failing nightly job"
    prs = session.get("pull_requests") or []
    repo = "/".join(prs[0]["pr_url"].split("/")[3:5]) if prs else "the main repository"
    return title, repo


def ordinary(rng: random.Random, session: Session) -> tuple[list[Message], list[Attachment]]:
    """A conversation that fits the session's status; see the module docstring."""
    task, repo = _task(session)
    status, detail = session["status"], session.get("status_detail")
    # New and claimed sessions have only the task: Devin has not started.
    rounds = -1 if status in ("new", "claimed") else rng.randint(0, 6)
    writer = _writer(rng, session, max(1, 2 * rounds + 4))
    opener = rng.choice(_OPENERS)
    writer.say("user", opener.format(task=task, task_lower=task[:1].lower() + task[1:], repo=repo))
    if rounds >= 0:
        plan = rng.choice(_PLANS).format(repo=repo)
        writer.say("devin", _long_plan(rng, task) if rng.random() < 0.2 else plan)
    for _ in range(max(0, rounds)):
        roll = rng.random()
        if roll < 0.3:
            writer.say("devin", f"{rng.choice(_PROGRESS)}\n\n{_code_block(rng)}")
        else:
            writer.say("devin", rng.choice(_PROGRESS))
        if rng.random() < 0.04:
            writer.say("user", rng.choice(_HOSTILE_REPORTS))
        elif rng.random() < 0.6:
            writer.say("user", rng.choice(_FOLLOW_UPS))
    if rounds >= 0:
        _ending(writer, status, detail, session)
    attachments = [] if rng.random() < 0.8 else _attachments(rng, rng.randint(1, 3))
    return writer.messages, attachments


def _ending(writer: _Writer, status: str, detail: str | None, session: Session) -> None:
    rng = writer.rng
    prs = [pr["pr_url"] for pr in session.get("pull_requests") or ()]
    if detail == "waiting_for_user":
        writer.say("devin", rng.choice(_QUESTIONS))
    elif detail == "waiting_for_approval":
        writer.say("devin", rng.choice(_APPROVALS))
    elif status == "error":
        writer.say("devin", _TRACEBACK)
    elif status == "resuming":
        writer.say("user", "Please continue where you left off.")
    elif status in ACTIVE_STATUSES and detail != "finished":
        writer.say("devin", rng.choice(_PROGRESS))
    elif prs:
        links = "\n".join(f"- {url}" for url in prs)
        writer.say("devin", f"Done. I opened:\n{links}\n\nCI is green. Anything else?")
    else:
        writer.say("devin", "I'm done with this task. Let me know if you need anything else.")


def _attachments(rng: random.Random, count: int) -> list[Attachment]:
    chosen = rng.sample(_ATTACHMENT_KINDS, count)
    return [attachment(rng, source, name, content_type) for source, name, content_type in chosen]


def attachment(
    rng: random.Random, source: str, name: str, content_type: str | None, url: str | None = None
) -> Attachment:
    attachment_id = f"{rng.getrandbits(128):032x}"
    return {
        "attachment_id": f"attachment-{attachment_id}",
        "name": name,
        "url": url or f"{ATTACHMENT_HOST}/{attachment_id}/{name}",
        "source": source,
        "content_type": content_type,
    }


# -- made to order -----------------------------------------------------------------------


def long(rng: random.Random, session: Session) -> tuple[list[Message], list[Attachment]]:
    """``LONG_MESSAGES`` messages: a long session of small steps, a code block now and then."""
    task, repo = _task(session)
    writer = _writer(rng, session, LONG_MESSAGES)
    writer.say("user", f"{task}. Repo: {repo}. This will take a while; report as you go.")
    for n in range(1, LONG_MESSAGES):
        if n % 2:
            text = f"Step {n // 2 + 1}: {rng.choice(_PROGRESS)}"
            if n % 25 == 1:
                text += f"\n\n{_code_block(rng)}"
            writer.say("devin", text)
        else:
            writer.say("user", rng.choice(_FOLLOW_UPS))
    return writer.messages, _attachments(rng, 2)


def huge(rng: random.Random, session: Session) -> tuple[list[Message], list[Attachment]]:
    """A conversation whose third message is a log of more than 1 MiB in a code block."""
    writer = _writer(rng, session, 4)
    writer.say("user", "The nightly import failed again. Can you paste the whole worker log?")
    writer.say("devin", "Sure, fetching it from the CI artifacts.")
    line = "2025-06-01T02:00:{:02d}Z INFO worker[{}]: imported batch {} (200 rows) in {} ms\n"
    lines: list[str] = []
    size = 0
    n = 0
    while size < HUGE_MESSAGE_CHARS:
        text = line.format(n % 60, n % 8, n, 30 + n % 70)
        lines.append(text)
        size += len(text)
        n += 1
    writer.say("devin", "Here is the full log:\n\n```\n" + "".join(lines) + "```")
    writer.say("user", "Thanks, that's a lot of log. What failed?")
    writer.say("devin", "Batch 4097 hit a unique constraint on `customers.email`; I'll fix it.")
    return writer.messages, []


# Everything a renderer must defuse: markup, script URLs in every disguise, template syntax,
# a NUL, direction overrides, a word longer than any line, a fence that never closes.
HOSTILE_MESSAGES: tuple[tuple[str, str], ...] = (
    ("user", '<script>alert("xss")</script>Please fix the <b>login</b> page.'),
    ("devin", "Sure. Is it this one? <img src=x onerror=alert(1)> <svg onload=alert(2)>"),
    ("user", "[the docs](javascript:alert(document.cookie)) and ![logo](javascript:alert(3))"),
    ("devin", "Links: <javascript:alert(4)> JaVaScRiPt:alert(5) java\tscript:alert(6)"),
    ("user", "[data](data:text/html,<script>alert(7)</script>) [vb](vbscript:msgbox(8))"),
    ("devin", '[ok](https://example.com/" onmouseover="alert(9)) https://example.com/?q=<script>'),
    ("user", "{{ 7*7 }} {% debug %} ${7*7} &lt;script&gt; &amp;lt;b&amp;gt;"),
    ("devin", "```html\n<script>alert('in a code block: shown, not run')</script>\n```"),
    ("user", "</textarea></pre></code><script>alert(10)</script>"),
    ("devin", "NUL here:\x00: and a direction override: \u202egnp.exe and zero\u200bwidth"),
    ("user", "W" * 20_000),
    ("devin", "```python\nprint('this fence never closes')\n<script>alert(11)</script>"),
)
HOSTILE_ATTACHMENTS: tuple[tuple[str, str, str | None, str], ...] = (
    ("user", "<script>alert(1)</script>.png", "image/png", "javascript:alert(1)"),
    (
        "devin",
        '"><img src=x onerror=alert(1)>.txt',
        None,
        "data:text/html,<script>alert(1)</script>",
    ),
    ("user", "report.html", "text/html", f"{ATTACHMENT_HOST}/x/report.html?<script>"),
)


def hostile(rng: random.Random, session: Session) -> tuple[list[Message], list[Attachment]]:
    """``HOSTILE_MESSAGES`` in order, and ``HOSTILE_ATTACHMENTS``."""
    writer = _writer(rng, session, len(HOSTILE_MESSAGES))
    for source, text in HOSTILE_MESSAGES:
        writer.say(source, text)
    attachments = [
        attachment(rng, source, name, content_type, url)
        for source, name, content_type, url in HOSTILE_ATTACHMENTS
    ]
    return writer.messages, attachments


Maker = Callable[[random.Random, Session], tuple[list[Message], list[Attachment]]]
FEATURES: dict[str, Maker] = {"long": long, "huge": huge, "hostile": hostile}


def conversation(
    seed: int, session: Session, feature: str | None = None
) -> tuple[list[Message], list[Attachment]]:
    """The messages (oldest first) and attachments of a session, the same for the same seed."""
    rng = random.Random(f"{seed}:{session['session_id']}:conversation")
    make = FEATURES[feature] if feature else ordinary
    return make(rng, session)
