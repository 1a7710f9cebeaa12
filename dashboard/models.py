from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.urls import reverse
from django.utils import timezone

from dashboard import baseurls, crypto, insightdays, vocabulary

if TYPE_CHECKING:
    from dashboard.devin import DevinClient

DEFAULT_BASE_URL = "https://api.devin.ai"


class Organization(models.Model):
    """A Devin organization and the service credential the dashboard uses for it."""

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Not checked yet"
        OK = "ok", "Can view sessions"
        VIEW_ONLY = "view_only", "View only"
        REJECTED = "rejected", "Rejected"
        UNREACHABLE = "unreachable", "Unreachable"
        ERROR = "error", "Error"

    name = models.CharField(max_length=100)
    org_id = models.CharField("Devin org id", max_length=100)
    base_url = models.URLField("API base URL", default=DEFAULT_BASE_URL)

    token_ciphertext = models.TextField(blank=True, editable=False)
    token_last4 = models.CharField(max_length=4, blank=True, editable=False)
    token_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_set_at = models.DateTimeField(null=True, blank=True)

    health = models.CharField(max_length=20, choices=Health.choices, default=Health.UNKNOWN)
    health_detail = models.TextField(blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    # None until an archive/unarchive is tried: there is no safe probe for ManageOrgSessions.
    can_manage = models.BooleanField(null=True, blank=True)
    # When a viewer's page last re-read this org's live sessions: one read per interval per org,
    # shared by every open browser.
    live_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # What went wrong in the last live refresh (a task on the workers), shown to pollers; "" if ok.
    live_problem = models.TextField(blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["base_url", "org_id"], name="unique_org_per_api"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.org_id})"

    @property
    def has_token(self) -> bool:
        return bool(self.token_ciphertext)

    @property
    def token_hint(self) -> str:
        return f"cog_…{self.token_last4}" if self.token_last4 else "not set"

    def set_token(self, token: str, by: User | AnonymousUser | None = None) -> None:
        self.token_ciphertext = crypto.encrypt(token)
        self.token_last4 = token[-4:]
        self.token_set_by = by if isinstance(by, User) and by.pk else None
        self.token_set_at = timezone.now()
        self.health = self.Health.UNKNOWN
        self.health_detail = ""
        self.health_checked_at = None
        self.can_manage = None

    @property
    def base_url_refused(self) -> str | None:
        """Why the saved base URL may no longer be used (a rule added since it was saved), or
        None. The client refuses it the same way: no request is ever sent to it."""
        return baseurls.refusal(self.base_url)

    def client(self) -> DevinClient:
        """A Devin API client for this org. Raises CredentialDecryptError if the key is wrong."""
        from dashboard.devin import DevinClient

        return DevinClient(
            base_url=self.base_url,
            org_id=self.org_id,
            token=crypto.decrypt(self.token_ciphertext),
            label=self.name,
        )


class Membership(models.Model):
    class Role(models.TextChoices):
        OPERATOR = "operator", "Operator"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "org"], name="one_role_per_org")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.org}"


class Session(models.Model):
    """The dashboard's copy of a Devin session, as last seen from the API."""

    # Statuses that still change by themselves: the page keeps these rows fresh (dashboard.live).
    LIVE_STATUSES = vocabulary.LIVE_STATUSES

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sessions")
    # Text, not bounded columns: the spec bounds none of these, and PostgreSQL refuses a value
    # longer than its column. The indexed ones (session_id, status, status_detail, category,
    # origin, pr_states) are cut
    # on the way in (dashboard.sync) to keep index rows small; `raw` keeps every value whole.
    session_id = models.TextField()  # canonical "devin-<id>"
    title = models.TextField(blank=True)
    url = models.TextField(blank=True)
    status = models.TextField()
    status_detail = models.TextField(blank=True)
    category = models.TextField(blank=True)
    subcategory = models.TextField(blank=True)
    origin = models.TextField(blank=True)
    tags = models.JSONField(default=list)
    # "|tag1|tag2|": lets an indexed-free LIKE filter a tag on SQLite and PostgreSQL alike.
    tags_text = models.TextField(blank=True, default="")
    pull_requests = models.JSONField(default=list)
    # "|open|merged|", or "" when the session has no PR: filters by PR state without JSON lookups.
    pr_states = models.TextField(blank=True, default="")
    acus_consumed = models.FloatField(default=0)
    is_archived = models.BooleanField(default=False)
    parent_session_id = models.TextField(blank=True)
    user_id = models.TextField(blank=True)
    created_at = models.DateTimeField()
    # created_at's UTC date, stored: the insight page groups by day, and a date function per row
    # (SQLite's is a Python callback) was half of its time at 100k sessions.
    created_day = models.DateField(null=True)
    updated_at = models.DateTimeField()
    raw = models.JSONField(default=dict)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "session_id"], name="unique_session_per_org"),
        ]
        indexes = [
            models.Index(fields=["is_archived", "-updated_at", "-id"], name="session_updated"),
            models.Index(fields=["is_archived", "-created_at", "-id"], name="session_created"),
            models.Index(fields=["is_archived", "-acus_consumed", "-id"], name="session_acus"),
            # An org filter pages in this order; pr_states lets a count with a PR filter (LIKE
            # '%|x|%', which no index can seek) read the index alone. Not tags_text: it has no
            # bound, and PostgreSQL refuses an index row over ~2.7 kB.
            models.Index(
                fields=["org", "is_archived", "-updated_at", "pr_states"],
                name="session_org_filters",
            ),
            # A filter on one of these pages in index order and counts from the index alone
            # (issue 19: at 1M sessions a category page took 0.4 s, now a few ms).
            *(
                models.Index(
                    fields=[field, "is_archived", "-updated_at", "-id", "org"],
                    name=f"session_{field}_updated",
                )
                for field in ("status_detail", "category", "origin")
            ),
            # A status filter pages in index order, and the trailing org and pr_states let its
            # COUNT (with or without a PR filter) read only the index (docs/performance.md).
            models.Index(
                fields=["status", "is_archived", "-updated_at", "-id", "org", "pr_states"],
                name="session_status_updated",
            ),
            # The insight page's aggregates read only this index (no row with its JSON).
            models.Index(
                fields=["org", "created_day", "status", "category", "acus_consumed", "pr_states"],
                name="session_insight",
            ),
            models.Index(fields=["org", "-acus_consumed"], name="session_org_acus"),
            # The sessions page's view and status counts within one org read only this index.
            models.Index(
                fields=["org", "is_archived", "status", "status_detail", "pr_states"],
                name="session_org_status",
            ),
            # The "started by" filter pages in index order and counts from the index alone.
            models.Index(
                fields=["user_id", "is_archived", "-updated_at", "-id", "org"],
                name="session_user_updated",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.session_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.created_at is not None:
            self.created_day = self.created_at.astimezone(UTC).date()
        super().save(*args, **kwargs)
        fields = kwargs.get("update_fields")
        if self.created_day is not None and (
            fields is None or set(fields) & set(insightdays.FIELDS)
        ):
            # Not the store's path (dashboard.sync keeps the rollup by deltas): recount the day.
            insightdays.refresh(self.org_id, [self.created_day], using=self._state.db or "default")

    @property
    def action_url(self) -> str:
        """Where this row's one action (archive, or unarchive once archived) posts."""
        return reverse(
            "session_unarchive" if self.is_archived else "session_archive", args=[self.pk]
        )

    @property
    def is_live(self) -> bool:
        return not self.is_archived and self.status in self.LIVE_STATUSES


class SyncRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        OK = "ok", "Succeeded"
        FAILED = "failed", "Failed"

    # At most one run per org is in these states (a database constraint, not a check-then-act).
    ACTIVE = (State.QUEUED, State.RUNNING)

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sync_runs")
    full = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The updated_after watermark this run asked for (None for a full run).
    since = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    # Items of the list that could not be read and were left out, and which ("ref: reason; ...").
    skipped = models.PositiveIntegerField(default=0)
    skipped_detail = models.TextField(blank=True)
    # The newest updated_at among the sessions this run and the runs before it saw, by Devin's
    # clock: the next incremental sync starts there, minus the overlap (syncruns.window_start).
    newest_updated_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The task that runs it, the worker holding it, and until when that worker's claim holds.
    task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["org", "state", "-started_at"], name="syncrun_org_state")]
        constraints = [
            models.UniqueConstraint(
                fields=["org"],
                condition=models.Q(state__in=["queued", "running"]),
                name="one_active_sync_per_org",
            )
        ]

    def __str__(self) -> str:
        return f"sync of {self.org} at {self.started_at:%Y-%m-%d %H:%M} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE

    @property
    def stalled(self) -> bool:
        """Marked running, but no worker holds it any more (its lease ran out): the page must
        not say "running", and recovery is about to end it and queue the next one."""
        return (
            self.state == self.State.RUNNING
            and self.lease_until is not None
            and self.lease_until < timezone.now()
        )


class AuditEvent(models.Model):
    """Append-only record of who did what. Never stores a token."""

    class Outcome(models.TextChoices):
        OK = "ok", "Succeeded"
        FAILED = "failed", "Failed"
        DENIED = "denied", "Denied"
        # Sent to Devin, but whether it was applied is not known (no answer within the deadline).
        UNKNOWN = "unknown", "Unknown"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    org = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    org_label = models.CharField(max_length=250, blank=True)
    action = models.CharField(max_length=50, db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    session_id = models.TextField(blank=True)  # as long as Session.session_id may be
    detail = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["org", "-at"], name="audit_org_at"),
            models.Index(fields=["action", "-at"], name="audit_action_at"),
            # The Audit page filters by actor, and a non-admin sees their own sign-in events.
            models.Index(fields=["actor_name", "-at"], name="audit_actor_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValueError("Audit events are append-only.")


class BulkRun(models.Model):
    """One bulk archive: the sessions it targets are fixed when it starts."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=20, default="archive")
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    description = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker holding the run and until when its claim holds (see SyncRun).
    worker = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The address of the request that started it: the run's audit events, written by workers
    # long after the request, carry it as a row archive's event would.
    ip = models.GenericIPAddressField(null=True, blank=True)
    # Set when a retention rule started the run (dashboard.rules); its outcome page is this run's.
    rule = models.ForeignKey(
        "dashboard.Rule", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )

    def __str__(self) -> str:
        return f"bulk {self.action} #{self.pk} ({self.state})"


class BulkItem(models.Model):
    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting"
        # Claimed by a worker, whose call to Devin may be in flight.
        WORKING = "working", "In progress"
        OK = "ok", "Archived"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(BulkRun, on_delete=models.CASCADE, related_name="items")
    session = models.ForeignKey(Session, null=True, on_delete=models.SET_NULL, related_name="+")
    session_label = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["run", "outcome"], name="bulkitem_run_outcome")]

    def __str__(self) -> str:
        return f"{self.session_label}: {self.outcome}"


class ActionAttempt(models.Model):
    """An action on a session, written before Devin is called.

    It is settled (with its audit event) once the outcome is known. A process killed between the
    call and the settling leaves it open, and recovery settles it by re-reading the session, so
    every action that may have reached Devin ends up in the audit trail.
    """

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(Session, null=True, on_delete=models.SET_NULL, related_name="+")
    devin_id = models.TextField()  # the session's id at Devin, kept if the row goes
    action = models.CharField(max_length=20)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # Where it came from, as the audit detail starts ("bulk #12"); "" for a row button.
    context = models.CharField(max_length=200, blank=True)
    bulk_item = models.ForeignKey(
        BulkItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="attempts"
    )
    started_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["started_at"],
                condition=models.Q(settled_at__isnull=True),
                name="attempt_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.devin_id} ({self.outcome or 'open'})"


class Profile(models.Model):
    """What the dashboard keeps about a user beyond Django's User; made when first needed."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="profile"
    )
    # Set when an admin gives a one-time password: the next sign-in must choose a new one.
    must_change_password = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"profile of {self.user}"


# The retention rules' and the ACU days' models live in their own modules (this one is long
# enough); importing them here registers them with the app.
from dashboard.acumodels import AcuDay as AcuDay  # noqa: E402
from dashboard.acumodels import InsightDay as InsightDay  # noqa: E402
from dashboard.rulemodels import Rule as Rule  # noqa: E402
from dashboard.rulemodels import RulesSwitch as RulesSwitch  # noqa: E402
