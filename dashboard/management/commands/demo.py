from __future__ import annotations

import random
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.utils import timezone

from dashboard import datadir, sync
from dashboard.management.commands._background import background
from dashboard.models import Membership, Organization
from dashboard.orgforms import check_token

if TYPE_CHECKING:
    from fakedevin import FakeDevin

DEMO_USERS = [
    # username, password, site admin, role in every demo org
    ("admin", "demo-admin-pass", True, None),
    ("operator", "demo-operator-pass", False, Membership.Role.OPERATOR),
    ("viewer", "demo-viewer-pass", False, Membership.Role.VIEWER),
]


def _import_fake() -> type[FakeDevin]:
    # The fake lives next to dashboard/ in a checkout and is left out of the wheel and the image.
    try:
        from fakedevin import FakeDevin
    except ModuleNotFoundError as exc:
        if exc.name != "fakedevin":
            raise
        raise CommandError(
            "The demo needs the fake Devin API from a source checkout: run it from the "
            "repository's root (make demo), where the fakedevin package is."
        ) from exc
    return FakeDevin


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class Command(BaseCommand):
    help = (
        "Run the dashboard against the built-in fake Devin API with demo orgs, users and "
        "sessions. The demo database is made afresh on every start."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="Address to serve on (127.0.0.1; make demo HOST=)."
        )
        parser.add_argument(
            "--port", type=int, default=8000, help="Dashboard port (8000; make demo PORT=)."
        )
        parser.add_argument("--api-port", type=int, default=8765, help="Fake API port (8765).")
        parser.add_argument("--sessions", type=int, default=120, help="Sessions per org (120).")
        parser.add_argument(
            "--no-serve", action="store_true", help="Seed and sync, then stop (for tests)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        fake_devin = _import_fake()
        if not settings.DEBUG:
            raise CommandError("The demo runs with DEBUG=true (make demo sets it).")
        if settings.DATABASE_URL:
            raise CommandError("The demo uses its own SQLite database: unset DATABASE_URL.")
        host, port = options["host"], options["port"]
        # Before the banner: a demo whose server then fails to start would print logins to nothing.
        if not options["no_serve"] and not _port_free(host, port):
            raise CommandError(
                f"Port {port} on {host} is already in use (another dashboard, make run or make "
                f"demo?). Stop it, or pick another port: make demo PORT={port + 1}"
            )
        db = Path(settings.DATABASES["default"]["NAME"])
        connections.close_all()
        for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            path.unlink(missing_ok=True)
        datadir.private_file(db)  # 0600, and SQLite gives its -wal and -shm the same mode
        call_command("migrate", verbosity=0, interactive=False)

        api_port = options["api_port"] if _port_free(host, options["api_port"]) else 0
        fake = fake_devin(seed=42, sessions_per_org=options["sessions"]).start(host, api_port)
        self.stdout.write(f"Fake Devin API: {fake.url}")

        orgs = []
        for org_id, name in fake.org_names.items():
            org = Organization(name=name, org_id=org_id, base_url=fake.url)
            # Initech's credential may only view sessions: its archives fail with a 403, to show
            # what that looks like.
            perm = "view" if org_id == "org-initech" else "manage"
            token = fake.tokens[org_id][perm]
            org.set_token(token)
            # As the Organizations page would on adding it: what the token may do is known.
            checked = check_token(fake.url, org_id, token)
            org.health, org.health_detail = checked.health, checked.words
            org.can_manage, org.health_checked_at = checked.can_manage, timezone.now()
            org.save()
            orgs.append(org)
        User = get_user_model()
        for username, password, is_admin, role in DEMO_USERS:
            user = User.objects.create_user(username=username, password=password)
            if is_admin:
                user.is_staff = user.is_superuser = True
                user.save()
            if role:
                for org in orgs:
                    Membership.objects.create(user=user, org=org, role=role)
        for org in orgs:
            run = sync.sync_org(org)
            self.stdout.write(f"Synced {org.name}: {run.seen} sessions ({run.state})")

        url = f"http://{host}:{port}/"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Devin dashboard demo: {url}"))
        self.stdout.write("Sign in as:")
        for username, password, is_admin, role in DEMO_USERS:
            what = "site admin" if is_admin else f"{role} of every demo org"
            self.stdout.write(f"  {username:<9} password {password:<20} ({what})")
        self.stdout.write("Initech's token can only view: archiving there shows a 403 error.")
        self.stdout.write("Press Ctrl-C to stop.\n")
        if options["no_serve"]:
            fake.stop()
            return
        self.start_activity(fake)
        # A worker runs Sync now and the live refresh, and the scheduler syncs every minute:
        # children of this process, which end with it (Ctrl-C, or this process dying).
        try:
            with background():
                call_command("runserver", f"{host}:{port}", use_reloader=False)
        finally:
            fake.stop()

    def start_activity(self, fake: FakeDevin) -> None:
        """Every few seconds a running demo session moves on, so the live view has news to show."""
        stop = threading.Event()
        rng = random.Random(42)

        def work() -> None:
            while not stop.wait(20):
                org_id = rng.choice(fake.orgs)
                running = [s for s in fake.sessions(org_id) if s["status"] == "running"]
                if running:
                    session = rng.choice(running)
                    detail = rng.choice(["finished", "waiting_for_user", "working"])
                    fake.update_session(org_id, session["session_id"], status_detail=detail)

        threading.Thread(target=work, name="demo-activity", daemon=True).start()
