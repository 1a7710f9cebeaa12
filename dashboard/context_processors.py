from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {"is_site_admin": bool(user is not None and user.is_authenticated and user.is_superuser)}
