from __future__ import annotations

import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger("dashboard")


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Devin sessions dashboard"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from dashboard import logs, search, signals  # noqa: F401  (signals registers audit receivers)

        logs.install_record_factory()
        post_migrate.connect(search.repair, sender=self, dispatch_uid="dashboard.search.repair")
        # Settings made the data dir private before anything was written; say what that took.
        if settings.DATA_DIR_TIGHTENED:
            log.warning(
                "data dir %s was readable by others; made it private (0700, files 0600): %s",
                settings.DATA_DIR,
                ", ".join(settings.DATA_DIR_TIGHTENED),
            )
        if settings.DATA_DIR_PROBLEM:
            log.warning(
                "data dir %s could not be made private: %s",
                settings.DATA_DIR,
                settings.DATA_DIR_PROBLEM,
            )
