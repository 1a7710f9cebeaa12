"""ACUs per org and UTC day as the dashboard saw them grow, and the insight page's daily rollup."""

from __future__ import annotations

from django.db import models


class AcuDay(models.Model):
    """The ACUs an org's sessions gained on `day`, counted by the syncs that saw the increase.

    The API reports a running total per session, not consumption per day: each store adds the
    positive difference between the stored and the new `acus_consumed`. An org's first row (its
    earliest `day`, written with 0 by the first store) marks when the dashboard began to watch:
    sessions created before that day count on their creation day instead (the fallback).
    """

    org = models.ForeignKey("dashboard.Organization", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    acus = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "day"], name="one_acu_day_per_org")]

    def __str__(self) -> str:
        return f"{self.org_id} {self.day}: {self.acus}"


class InsightDay(models.Model):
    """The insight page's rollup: an org's sessions created on `day` (UTC) that have `value` for
    `kind` (a status, a category, or a PR state, "" for none), with their ACUs.

    Kept in step by dashboard.insightdays on every store of sessions, so that the page reads at
    most a few dozen rows per org and day instead of every session (issue 19).
    """

    org = models.ForeignKey("dashboard.Organization", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    kind = models.TextField()
    value = models.TextField()
    n = models.IntegerField(default=0)
    acus = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "day", "kind", "value"], name="one_insight_day_per_value"
            )
        ]

    def __str__(self) -> str:
        return f"{self.org_id} {self.day} {self.kind}={self.value}: {self.n}, {self.acus}"
