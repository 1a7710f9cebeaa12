"""Figure 10: selecting a retention rule's matches (dashboard.rules) at the largest size."""

from __future__ import annotations

import time

from bench.harness import Figure, Harness, median_ms
from bench.plan import size_label
from dashboard import rules
from dashboard.models import Rule, Session

REPS = 15
# A broad rule, as a team would write one: finished sessions, a week quiet, no open PR.
QUERY = "status=exit&status=error&pr=no_open"


def rule_matches(h: Harness) -> None:
    """What a run does to choose its targets (count and the first `cap` keys), timed; the
    preview does the same count."""
    size = Session.objects.count()
    h.step(f"retention rule: selecting its matches over {size} sessions")
    rule = Rule.objects.create(
        org=h.org, name="bench", query=QUERY, min_age_days=7, exclude_tags="|keep|"
    )
    samples: list[float] = []
    count = 0
    targets: list[int] = []
    try:
        for _ in range(REPS + 2):
            started = time.perf_counter()
            qs = rules.matches(rule)
            count = qs.count()
            targets = list(qs.values_list("pk", flat=True)[: rule.cap])
            samples.append(time.perf_counter() - started)
        samples = samples[2:]  # the first two warm the caches
    finally:
        rule.delete()
    value = median_ms(samples)
    h.add(
        Figure(
            "10.rule.goal",
            f"Retention rule's matches at {size_label(size)}",
            value,
            "ms",
            "median ≤ 200 ms",
            value <= 200,
            f"count and the first {len(targets)} of {count} matches ({QUERY}, 7 days quiet, "
            "an excluded tag), in the database",
            len(samples),
        )
    )
