"""The form that makes and edits a retention rule (dashboard.rules).

The conditions the sessions page knows are chosen here and validated by that page's own filter
form (SessionFilters), then stored as its query string, so a rule and the filter link can never
disagree; age, excluded tags, cap and schedule are the rule's own.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict

from dashboard import filters, rules
from dashboard.bulk import MAX_TARGETS
from dashboard.models import Rule
from dashboard.vocabulary import label

FILTER_FIELDS = ("status", "detail", "category", "origin", "pr", "tag", "q")


def _menu(values: list[str]) -> list[tuple[str, str]]:
    return [("", "Any"), *((v, label(v)) for v in values)]


class RuleForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    status = forms.MultipleChoiceField(
        choices=[(v, label(v)) for v in filters.STATUSES], required=False
    )
    detail = forms.ChoiceField(choices=_menu(filters.STATUS_DETAILS), required=False)
    min_age_days = forms.IntegerField(
        label="Not updated for (days)", min_value=0, max_value=3650, required=False
    )
    pr = forms.ChoiceField(label="Pull requests", choices=filters.PR_FILTERS.items(), initial="any")
    tag = forms.CharField(label="Has tag", max_length=100, required=False, strip=True)
    exclude_tags = forms.CharField(
        label="Leave alone sessions tagged",
        max_length=900,
        required=False,
        help_text="Tags separated by commas.",
    )
    origin = forms.ChoiceField(choices=_menu(filters.ORIGINS), required=False)
    category = forms.ChoiceField(choices=_menu(filters.CATEGORIES), required=False)
    q = forms.CharField(label="Title or id contains", max_length=200, required=False, strip=True)
    cap = forms.IntegerField(
        label="Archive at most per run", min_value=1, max_value=MAX_TARGETS, initial=500
    )
    every_minutes = forms.IntegerField(
        label="Run every (minutes)", min_value=5, max_value=7 * 24 * 60, initial=60
    )

    @classmethod
    def for_rule(cls, rule: Rule) -> RuleForm:
        f = rules.filters_of(rule.query).cleaned_data
        initial = {name: f[name] for name in FILTER_FIELDS}
        initial["status"] = f["status"] or []
        initial.update(
            name=rule.name,
            min_age_days=rule.min_age_days,
            exclude_tags=", ".join(rule.excluded_tags),
            cap=rule.cap,
            every_minutes=rule.every_minutes,
        )
        return cls(initial=initial)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        data = QueryDict(mutable=True)
        for name in FILTER_FIELDS:
            value = cleaned.get(name)
            if isinstance(value, list):
                data.setlist(name, value)
            elif value:
                data[name] = str(value)
        f = rules.filters_of(data.urlencode())
        for note in f.notes:
            self.add_error(None, note)
        cleaned["query"] = f.query()
        tags = [t.strip() for t in cleaned.get("exclude_tags", "").split(",")]
        cleaned["exclude_tags"] = "|" + "|".join(t for t in tags if t) + "|" if any(tags) else ""
        return cleaned

    def apply(self, rule: Rule) -> Rule:
        """`rule` with this form's values (not saved)."""
        c = self.cleaned_data
        rule.name = c["name"]
        rule.query = c["query"]
        rule.min_age_days = c["min_age_days"] or None
        rule.exclude_tags = c["exclude_tags"]
        rule.cap = c["cap"]
        rule.every_minutes = c["every_minutes"]
        return rule


def conditions(rule: Rule) -> str:
    """A rule's conditions in one line, for the audit trail and the Rules page."""
    parts = [rule.query or "no filter"]
    if rule.min_age_days:
        parts.append(f"not updated for {rule.min_age_days} days")
    if rule.excluded_tags:
        parts.append(f"not tagged {', '.join(rule.excluded_tags)}")
    parts.append(f"at most {rule.cap} per run, every {rule.every_minutes} min")
    return "; ".join(parts)
