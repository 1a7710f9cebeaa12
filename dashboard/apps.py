from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Devin sessions dashboard"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from dashboard import logs, search, signals  # noqa: F401  (signals registers audit receivers)

        logs.install_record_factory()
        post_migrate.connect(search.repair, sender=self, dispatch_uid="dashboard.search.repair")
