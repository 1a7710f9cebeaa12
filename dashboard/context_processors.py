from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from dashboard.access import is_site_admin
from dashboard.filters import attention_count_of


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"is_site_admin": False}

    def needs_attention() -> str:
        # Called only if the page shows the counter and the view did not count already.
        return attention_count_of(user)

    return {"is_site_admin": is_site_admin(user), "attention_count": needs_attention}
