"""The dashboard's URLs plus an admin site whose Session changelist matches the sessions page.

The project's own admin (dashboard/admin.py) lists 100 sessions per page ordered by -pk. To compare
like with like, this site registers the same ModelAdmin with the sessions page's page size and
order: same rows, same page size, the admin's own filters, search and counts.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import path

from dashboard.admin import SessionAdmin
from dashboard.models import Session
from dashboard.urls import urlpatterns as dashboard_urlpatterns


class BenchSessionAdmin(SessionAdmin):
    ordering = ["-updated_at", "-id"]
    list_per_page = settings.SESSIONS_PER_PAGE


site = admin.AdminSite(name="bench_admin")
site.register(Session, BenchSessionAdmin)

urlpatterns = [*dashboard_urlpatterns, path("bench-admin/", site.urls)]
