from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import QueryDict

from dashboard.models import Membership, Organization


class FirstAdminForm(UserCreationForm):
    email = forms.EmailField(required=False)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.is_staff = True
        user.is_superuser = True
        if commit:
            user.save()
        return user


# --------------------------------------------------------------------------------------------
# Organizations and their service credential
# --------------------------------------------------------------------------------------------

ORG_ID_RE = re.compile(r"org-[A-Za-z0-9_-]+")
# Devin service-user keys and personal access tokens: "cog_" and a url-safe run of characters
# (the fake API issues cog_ + 40 alphanumerics).
TOKEN_RE = re.compile(r"cog_[A-Za-z0-9_-]{20,200}")


def _check_shape(
    value: str, prefix: str, pattern: re.Pattern[str], prefix_message: str, shape_message: str
) -> str:
    """A missing prefix (the usual paste of the wrong thing) first, then the rest of the shape.

    The messages never repeat the value: it may be a real secret pasted with a typo.
    """
    if not value.startswith(prefix):
        raise ValidationError(prefix_message, code="prefix")
    if not pattern.fullmatch(value):
        raise ValidationError(shape_message, code="shape")
    return value


def validate_org_id(value: str) -> str:
    return _check_shape(
        value.strip(),
        "org-",
        ORG_ID_RE,
        "A Devin org id starts with org- (for example org-abc123). "
        "Copy it from the organization's settings in Devin.",
        "After org- an org id has only letters, digits, - and _.",
    )


def validate_token(value: str) -> str:
    return _check_shape(
        value,
        "cog_",
        TOKEN_RE,
        "A Devin token starts with cog_. Paste the API key of the organization's "
        "service user, from Devin's settings.",
        "This does not look like a Devin token: after cog_ it has 20 to 200 letters, "
        "digits, - or _, and no spaces.",
    )


def token_field(*, required: bool) -> forms.CharField:
    """A write-only field: the widget never renders a value, not even on redisplay."""
    return forms.CharField(
        label="Service token",
        required=required,
        strip=True,
        error_messages={
            "required": "Paste the organization's service token (it starts with cog_)."
        },
        widget=forms.PasswordInput(
            render_value=False,
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
        ),
        help_text="The API key of a Devin service user with ViewOrgSessions "
        "(and ManageOrgSessions to archive). Stored encrypted; never shown again.",
    )


class TokenForm(forms.Form):
    token = token_field(required=True)

    def clean_token(self) -> str:
        return validate_token(self.cleaned_data["token"])


# --------------------------------------------------------------------------------------------
# Team
# --------------------------------------------------------------------------------------------

ROLE_CHOICES = [
    ("", "No access"),
    (Membership.Role.VIEWER, "Viewer (sees sessions)"),
    (Membership.Role.OPERATOR, "Operator (sees, syncs, archives)"),
]
ADMIN_HELP = "Manages organizations, credentials and the team, and sees every organization."


def is_last_active_admin(user: User) -> bool:
    return bool(
        user.is_superuser
        and user.is_active
        and not User.objects.filter(is_superuser=True, is_active=True).exclude(pk=user.pk).exists()
    )


class NewUserForm(UserCreationForm):
    email = forms.EmailField(required=False)
    is_admin = forms.BooleanField(label="Site admin", required=False, help_text=ADMIN_HELP)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.is_staff = user.is_superuser = bool(self.cleaned_data.get("is_admin"))
        if commit:
            user.save()
        return user


class RolesForm(forms.Form):
    """A user's role in every org (one select each) and whether they are a site admin."""

    is_admin = forms.BooleanField(label="Site admin", required=False, help_text=ADMIN_HELP)

    def __init__(
        self, *args: Any, user: User, actor: User, orgs: Iterable[Organization], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.actor = actor
        self.orgs = list(orgs)
        self.current: dict[int, str] = dict(
            Membership.objects.filter(user=user).values_list("org_id", "role")
        )
        self.fields["is_admin"].initial = user.is_superuser
        for org in self.orgs:
            self.fields[f"org_{org.pk}"] = forms.ChoiceField(
                label=org.name,
                choices=ROLE_CHOICES,
                required=False,
                initial=self.current.get(org.pk, ""),
                help_text=org.org_id,
            )

    def role_fields(self) -> list[forms.BoundField]:
        return [self[f"org_{org.pk}"] for org in self.orgs]

    def clean_is_admin(self) -> bool:
        value = bool(self.cleaned_data.get("is_admin"))
        if self.user.is_superuser and not value:
            if self.user.pk == self.actor.pk:
                raise ValidationError(
                    "You cannot remove your own admin role. Ask another admin to do it."
                )
            if is_last_active_admin(self.user):
                raise ValidationError(
                    f"{self.user.get_username()} is the last active admin. "
                    "Make someone else an admin first."
                )
        return value

    def role_changes(self) -> list[tuple[Organization, str, str]]:
        """(org, old role, new role) for each org whose role changes; "" means no access."""
        changes = []
        for org in self.orgs:
            old = self.current.get(org.pk, "")
            new = self.cleaned_data.get(f"org_{org.pk}") or ""
            if old != new:
                changes.append((org, old, new))
        return changes


# --------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------

CHOOSE_ORG = "Choose one of your organizations to track the session in."


class TrackForm(forms.Form):
    """Which of the user's operator orgs to track a session in; with only one, it may be left out.

    (The session id or URL is read by devin.normalize_session_id, which words its own errors.)
    """

    org = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, error_messages={"invalid_choice": CHOOSE_ORG}
    )

    def __init__(self, data: QueryDict, *, org_pks: frozenset[int]) -> None:
        super().__init__(data)
        self.org_pks = org_pks
        field = self.fields["org"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(pk, pk) for pk in sorted(org_pks)]

    def clean_org(self) -> int:
        org: int | None = self.cleaned_data["org"]
        if org is None and len(self.org_pks) == 1:
            [org] = self.org_pks
        if org is None:
            raise ValidationError(CHOOSE_ORG, code="required")
        return org
