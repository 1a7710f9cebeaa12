"""The session page's own parameters: the "Load older messages" link, and the tags form.

Unlike the list's filters (dashboard.filters), these are not typed by a person: our own links
and hidden inputs carry them, so a value none of them would carry is a form error (the view
answers 400) rather than something quietly cut or dropped.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from dashboard import conversation
from dashboard.fields import ValueListField

CURSOR_MAX = 200  # characters of a page start or message id in an "older" link
TAG_MAX = 100  # characters a tag added here may have
TAG_SEEN_MAX = 1_000  # characters of a tag Devin holds (it may have been set elsewhere)
TAGS_SEEN_MAX = 200  # tags the page may have shown


class OlderMessagesForm(forms.Form):
    """GET …/messages/?starts=…&before=…: where the pages up to the oldest message shown start,
    and that message's id (dashboard.conversation.Window)."""

    starts = ValueListField(limit=CURSOR_MAX, most=conversation.MAX_STARTS)
    before = forms.CharField(max_length=CURSOR_MAX, strip=False)


class TagsForm(forms.Form):
    """POST …/tags/: add `tags` (comma-separated), or remove the tag `remove`; `seen` is every tag
    the page showed, so that a removal decided on a stale list is refused, not applied."""

    tags = forms.CharField(required=False, max_length=2_000)
    remove = forms.CharField(required=False, max_length=TAG_SEEN_MAX, strip=False)
    seen = ValueListField(limit=TAG_SEEN_MAX, most=TAGS_SEEN_MAX, required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        remove = data.get("remove", "")
        if remove and remove not in data.get("seen", []):
            raise ValidationError("A tag to remove must be one the page showed.", code="unseen")
        return data

    @property
    def added(self) -> list[str]:
        """The tags to add: trimmed, cut to TAG_MAX characters, empty ones left out."""
        text = str(self.cleaned_data.get("tags", ""))
        return [t.strip()[:TAG_MAX] for t in text.split(",") if t.strip()]
