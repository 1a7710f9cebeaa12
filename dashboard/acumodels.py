"""ACUs per org and UTC day, as the dashboard saw them grow (dashboard.insight keeps it)."""

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
