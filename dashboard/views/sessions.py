from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.access import visible_orgs


def sessions(request: HttpRequest) -> HttpResponse:
    orgs = visible_orgs(request.user)
    return render(request, "dashboard/sessions.html", {"orgs": orgs})
