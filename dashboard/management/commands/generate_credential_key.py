from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard import crypto


class Command(BaseCommand):
    help = (
        "Print a new credential key as `id:key`, ready for DASHBOARD_CREDENTIAL_KEYS. "
        "Put it first to encrypt new tokens with it, keep the old keys after it, then run "
        "rotate_credential_keys."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", default="k1", help="The key id (default k1); e.g. k2 next.")

    def handle(self, *args: Any, **options: Any) -> None:
        key_id = options["id"]
        # The id is stored in front of every ciphertext, before a colon; a comma splits keys.
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,20}", key_id):
            raise CommandError("--id: use 1 to 20 letters, digits, - or _ (for example k2).")
        self.stdout.write(f"{key_id}:{crypto.generate_key()}")
