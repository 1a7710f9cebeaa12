"""Retention rules (dashboard.rules): what a rule is and the switch that pauses them all."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from dashboard.models import Organization

DEFAULT_CAP = 500
DEFAULT_EVERY_MINUTES = 60


class Rule(models.Model):
    """Archive an org's sessions that match conditions, on a schedule, a capped number per run.

    `query` is the sessions page's filter as its query string (validated by the same form), so
    a rule matches exactly what that filter shows; the rest are conditions the page has not.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100)
    query = models.CharField(max_length=2000, blank=True)
    # "Not updated for N days" (None: no age condition beyond the fixed safety hour).
    min_age_days = models.PositiveIntegerField(null=True, blank=True)
    # Sessions with any of these tags are left alone: "|a|b|" as Session.tags_text stores tags.
    exclude_tags = models.CharField(max_length=1000, blank=True)
    cap = models.PositiveIntegerField(default=DEFAULT_CAP)
    every_minutes = models.PositiveIntegerField(default=DEFAULT_EVERY_MINUTES)
    # A person's switch: off means paused. Three failing runs in a row turn it off with a reason.
    enabled = models.BooleanField(default=False)
    paused_reason = models.CharField(max_length=500, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    archived_total = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="rule_due")]

    def __str__(self) -> str:
        return f"rule {self.name}"

    @property
    def actor_name(self) -> str:
        """Who the audit trail says did what the rule did."""
        return f"rule {self.name}"[:150]

    @property
    def every(self) -> timedelta:
        return timedelta(minutes=self.every_minutes)

    @property
    def excluded_tags(self) -> list[str]:
        return [t for t in self.exclude_tags.split("|") if t]


class RulesSwitch(models.Model):
    """One row: a site admin's pause of every rule at once."""

    paused = models.BooleanField(default=False)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return "rules paused" if self.paused else "rules running"

    @classmethod
    def all_paused(cls) -> bool:
        return cls.objects.filter(pk=1, paused=True).exists()
