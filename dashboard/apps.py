from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Devin sessions dashboard"

    def ready(self) -> None:
        from dashboard import logs, signals  # noqa: F401  (signals registers audit receivers)

        logs.install_record_factory()
