from __future__ import annotations

from django.contrib import admin
from django.urls import path

from dashboard.views import auth, sessions

urlpatterns = [
    path("", sessions.sessions, name="sessions"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("setup/", auth.setup, name="setup"),
    path("healthz", auth.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
