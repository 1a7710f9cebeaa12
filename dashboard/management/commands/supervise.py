from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard.management.commands._background import background, spawn


class Command(BaseCommand):
    help = (
        "Run a web server command (what follows --) with a background worker and the scheduler "
        "beside it, all ending together: what make run and make serve use. In production, run "
        "the three as separate services (docs/deploy.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=60.0, help="Sync interval (60 s).")
        parser.add_argument("server", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["server"]
        if command[:1] == ["--"]:
            command = command[1:]
        if not command:
            raise CommandError("Give the server's command after --, e.g. -- gunicorn ...")
        with background(options["interval"]):
            server = spawn(command)

            def forward(signum: int, frame: FrameType | None) -> None:
                # Ctrl-C or a service manager's SIGTERM: the server stops gracefully; the
                # worker and the scheduler follow when it has.
                if server.poll() is None:
                    server.terminate()

            signal.signal(signal.SIGINT, forward)
            signal.signal(signal.SIGTERM, forward)
            code = server.wait()
        # A server killed by a signal ends this command as a shell would report it.
        sys.exit(code if code >= 0 else 128 - code)
