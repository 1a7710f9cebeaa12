from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard import throttle


class Command(BaseCommand):
    help = (
        "List locked sign-ins (too many failed sign-ins for a username from one address), or "
        "unlock usernames so they can sign in again from any address. Unlocks are audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("usernames", nargs="*", help="Usernames to unlock.")
        parser.add_argument("--all", action="store_true", help="Unlock every locked username.")

    def handle(self, *args: Any, **options: Any) -> None:
        usernames: list[str] = options["usernames"]
        locks = throttle.current_locks()
        if options["all"]:
            if usernames:
                raise CommandError("Give usernames or --all, not both.")
            usernames = sorted({lock.username for lock in locks})
        if not usernames:
            if not locks:
                self.stdout.write("No sign-ins are locked.")
            for lock in locks:
                self.stdout.write(
                    f"{lock.username} from {lock.ip or 'an unknown address'}: "
                    f"{lock.failures} failures, unlocks by itself in {lock.wait}"
                )
            return
        for username in usernames:
            throttle.unlock(username, actor_name="manage.py unlock_sign_ins")
            self.stdout.write(f"Unlocked {username}.")
