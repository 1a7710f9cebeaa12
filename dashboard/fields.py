"""Form fields for values that arrive in links and buttons (query strings, hidden inputs).

Most are as lenient as the pages: free text is cut to length rather than refused, an unknown
choice means the default, a list skips what it cannot read. ValueListField is strict, for values
only our own links carry. Whatever arrives, cleaning raises at most a ValidationError.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator

from dashboard.paging import MAX_PK

# A day either side of these still makes a timestamp in any time zone.
FIRST_DAY = date(1, 1, 2)
LAST_DAY = date(9999, 12, 30)


def _items(value: object) -> list[str]:
    """A repeated parameter's values: a list from a QueryDict, a lone string from a plain dict."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else []


class TextField(forms.CharField):
    """Free text, cut to `limit` characters (a longer value is not an error)."""

    def __init__(self, limit: int, *, strip: bool = False) -> None:
        super().__init__(required=False, strip=strip)
        self.limit = limit

    def to_python(self, value: object) -> str:
        return str(super().to_python(value))[: self.limit]


class TextListField(forms.Field):
    """A repeated parameter (?status=a&status=b): its non-empty values, each cut to `limit`
    characters, `most` of them."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, limit: int, most: int) -> None:
        super().__init__(required=False)
        self.limit = limit
        self.most = most

    def to_python(self, value: object) -> list[str]:
        return [item[: self.limit] for item in _items(value) if item][: self.most]

    def validate(self, value: list[str]) -> None:
        for item in value:
            ProhibitNullCharactersValidator()(item)


class ValueListField(forms.Field):
    """A repeated parameter, every value kept as sent (an empty one too: "" is the start of a
    conversation); more than `most` values, or one longer than `limit`, is an error."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, limit: int, most: int, required: bool = True) -> None:
        super().__init__(required=required)
        self.limit = limit
        self.most = most

    def to_python(self, value: object) -> list[str]:
        return _items(value)

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")
        if len(value) > self.most:
            raise ValidationError(f"At most {self.most} values.", code="too_many")
        if any(len(item) > self.limit or "\x00" in item for item in value):
            raise ValidationError(f"A value is longer than {self.limit} characters.", code="long")


class FallbackChoiceField(forms.ChoiceField):
    """One of `choices`; anything else (absent, empty or unknown) quietly means `default`."""

    def __init__(self, choices: Iterable[tuple[str, str]], default: str) -> None:
        super().__init__(choices=list(choices), required=False, initial=default)
        self.default = default

    def clean(self, value: object) -> str:
        text = self.to_python(value)
        return text if text and self.valid_value(text) else self.default


class PkListField(forms.Field):
    """Primary keys from a repeated parameter (?ids=1&ids=2), the first `most` values read; a
    value that is not a pk is skipped."""

    widget = forms.MultipleHiddenInput

    def __init__(self, *, most: int | None = None) -> None:
        super().__init__(required=False)
        self.most = most
        self.pk = forms.IntegerField(min_value=1, max_value=MAX_PK)

    def to_python(self, value: object) -> list[int]:
        pks = []
        for item in _items(value)[: self.most]:
            try:
                pks.append(self.pk.clean(item))
            except ValidationError:
                continue
        return pks


class DayField(forms.Field):
    """A day as YYYY-MM-DD (what a date input sends), or None."""

    default_error_messages = {
        "invalid": "“%(value)s” is not a date (YYYY-MM-DD); it is ignored.",
        "range": "“%(value)s” is too far in the past or the future; it is ignored.",
    }

    def __init__(self) -> None:
        super().__init__(required=False)

    def to_python(self, value: object) -> date | None:
        text = str(value or "").strip()
        if not text:
            return None
        params = {"value": text[:20]}
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], "invalid", params) from None
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValidationError(self.error_messages["range"], "range", params)
        return day
