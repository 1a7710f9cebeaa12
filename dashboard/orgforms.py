"""The organization form, and the check of a new org's token with Devin before it is saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone

from dashboard import actions, wording
from dashboard.baseurls import normalize_base_url
from dashboard.devin import (
    DevinClient,
    DevinError,
    Forbidden,
    Identity,
    SessionQuery,
    Unavailable,
)
from dashboard.forms import token_field, validate_org_id, validate_token
from dashboard.models import DEFAULT_BASE_URL, Organization

Health = Organization.Health

# A session id no real session has: archiving it is a manage-only call that changes nothing.
PROBE_SESSION_ID = "devin-" + "0" * 32


# Devin's own API hosts. What any other host answered (a typo, or an internal service someone
# points the base URL at) is not read out: only a short status line.
DEVIN_DOMAINS = ("devin.ai", "devinenterprise.com")


def is_devin_host(host: str) -> bool:
    name = (urlsplit(f"//{host}").hostname or "").rstrip(".")
    return any(name == domain or name.endswith("." + domain) for domain in DEVIN_DOMAINS)


def describe_failure(exc: DevinError, identity: Identity | None) -> tuple[str, str]:
    if not is_devin_host(exc.host):
        exc.detail = ""
    elsewhere = ""
    if identity is not None and identity.org_id:
        elsewhere = f" This token belongs to {identity.org_id}."
    if exc.status_code == 401:
        return Health.REJECTED, (
            "rejected (401): Devin does not accept this token (unknown, revoked or expired). "
            "Replace it with a current one."
        )
    if exc.status_code == 403:
        if identity is None:
            return Health.ERROR, f"lacks permission (403): {wording.describe(exc)}"
        return Health.ERROR, (
            "lacks ViewOrgSessions (403): give the service user permission to view "
            f"this organization's sessions in Devin.{elsewhere}"
        )
    if isinstance(exc, Unavailable):
        return Health.UNREACHABLE, f"unreachable: {wording.describe(exc)}"
    return Health.ERROR, f"failed: {wording.describe(exc)}{elsewhere}"


@dataclass(frozen=True)
class TokenCheck:
    """What Devin said of a token: saved as the org's health, or refused with `words`."""

    health: str
    words: str
    can_manage: bool | None = None

    @property
    def refused(self) -> bool:
        return self.health not in (Health.OK, Health.VIEW_ONLY)

    @property
    def unreachable(self) -> bool:
        return self.health == Health.UNREACHABLE


def check_token(base_url: str, org_id: str, token: str) -> TokenCheck:
    """Whether `token` is one of org `org_id`'s, and what it may do, within one action deadline.

    GET /v3/self tells who the token is (its org_id may be null), one listed session that it may
    view this org's sessions, and an archive of PROBE_SESSION_ID whether it may manage them: a
    403 there means view only; any other answer (404, or a 422 if Devin checks the id first)
    leaves it unknown, as it is for orgs added before this check.
    """
    client = DevinClient(base_url=base_url, org_id=org_id, token=token, label=org_id)
    deadline = actions.deadline_in()
    identity: Identity | None = None
    try:
        identity = client.whoami(deadline=deadline)
        if identity.org_id and identity.org_id != org_id:
            return TokenCheck(
                Health.ERROR,
                f"This token belongs to another organization ({identity.org_id}), not "
                f"{org_id}. Paste a token of a service user of {org_id}.",
            )
        client.list_page(SessionQuery(first=1), deadline=deadline)
    except DevinError as exc:
        return TokenCheck(*describe_failure(exc, identity))
    words = f"can view sessions (as {identity.name})"
    try:
        client.archive_session(PROBE_SESSION_ID, deadline=deadline)
    except Forbidden:
        return TokenCheck(
            Health.VIEW_ONLY, words + "; cannot archive (lacks ManageOrgSessions)", False
        )
    except DevinError:
        pass
    return TokenCheck(Health.OK, words)


class OrgForm(forms.ModelForm):
    base_url = forms.CharField(
        label="API base URL",
        initial=DEFAULT_BASE_URL,
        max_length=200,
        widget=forms.URLInput(attrs={"spellcheck": "false", "autocapitalize": "off"}),
        help_text="https://api.devin.ai, or your dedicated deployment's API host.",
    )
    token = token_field(required=True)
    # Offered (see `offer_skip`) only when Devin could not be reached to check the token.
    skip_check = forms.BooleanField(
        label="Save without checking",
        required=False,
        help_text="Devin could not be reached: add the organization anyway, with its token "
        "unchecked. Test its connection once Devin answers.",
    )

    class Meta:
        model = Organization
        fields = ("name", "org_id", "base_url")
        labels = {"name": "Display name", "org_id": "Devin org id"}
        help_texts = {
            "name": "How the dashboard names this organization.",
            "org_id": "Looks like org-abc123; in Devin's organization settings.",
        }
        widgets = {
            "org_id": forms.TextInput(attrs={"spellcheck": "false", "autocapitalize": "off"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Where the stored token is allowed to go; compared with what the form asks for.
        self.saved_target = (
            (self.instance.base_url, self.instance.org_id) if self.instance.pk else None
        )
        # The add form checks the token with Devin before saving; the box to skip that is shown
        # once Devin was found unreachable (and stays while it is ticked).
        self.offer_skip = bool(self.data.get("skip_check"))
        if self.instance.pk:
            del self.fields["skip_check"]
        if self.instance.pk and self.instance.has_token:
            token = self.fields["token"]
            token.required = False
            token.label = "Replace token"
            token.help_text = (
                f"Leave blank to keep the current token ({self.instance.token_hint}). "
                "A new token is stored encrypted and never shown again."
            )

    def clean_org_id(self) -> str:
        return validate_org_id(self.cleaned_data["org_id"])

    def clean_base_url(self) -> str:
        return normalize_base_url(self.cleaned_data["base_url"])

    def clean_token(self) -> str:
        value = self.cleaned_data.get("token") or ""
        return validate_token(value) if value else ""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        base_url, org_id = cleaned.get("base_url"), cleaned.get("org_id")
        if base_url and org_id:
            clash = (
                Organization.objects.filter(base_url=base_url, org_id=org_id)
                .exclude(pk=self.instance.pk)
                .first()
            )
            if clash is not None:
                self.add_error(
                    "org_id",
                    f"“{clash.name}” already uses this org id with this API base URL.",
                )
        if (
            self.saved_target is not None
            and base_url
            and base_url != self.saved_target[0]
            and not cleaned.get("token")
            and "token" not in self.errors
        ):
            self.add_error(
                "token",
                "Enter the token again to use a new API base URL: "
                "a stored token is never sent to another host.",
            )
        return cleaned

    def save_org(
        self, by: User | None = None, checked: TokenCheck | None = None
    ) -> tuple[Organization, str | None]:
        """Save the org; returns it and the credential audit action, if the token changed.

        `checked` is what Devin said of the new token just now: stored as the org's health."""
        org: Organization = self.save(commit=False)
        token = self.cleaned_data.get("token")
        action = None
        if token:
            action = "credential_replaced" if org.has_token else "credential_created"
            org.set_token(token, by=by)
            if checked is not None:
                org.health, org.health_detail = checked.health, checked.words
                org.health_checked_at = timezone.now()
                org.can_manage = checked.can_manage
        elif self.saved_target is not None and (org.base_url, org.org_id) != self.saved_target:
            # The last check was of another org id or host: it says nothing about this one.
            org.health = Organization.Health.UNKNOWN
            org.health_detail = ""
            org.health_checked_at = None
            org.can_manage = None
        org.save()
        return org, action
