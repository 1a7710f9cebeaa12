from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import IntegrityError, transaction

from dashboard import audit
from dashboard.management.commands._credentials import (
    COMMAND_LINE,
    TokenCommand,
    form_errors,
    read_token,
)
from dashboard.models import DEFAULT_BASE_URL
from dashboard.orgforms import OrgForm

OPTIONS = {"name": "--name", "org_id": "--org-id", "base_url": "--base-url", "token": "token"}


class Command(TokenCommand):
    help = (
        "Add a Devin organization with its service token. The token is read from a file "
        "(or stdin with --token-file -), never from the command line, where `ps` and shell "
        "history would keep it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org-id", required=True, help="The Devin org id, like org-abc123.")
        parser.add_argument("--name", required=True, help="The display name.")
        parser.add_argument(
            "--base-url", default=DEFAULT_BASE_URL, help=f"The API base URL ({DEFAULT_BASE_URL})."
        )
        self.add_token_file_argument(parser, "the service token")

    def handle(self, *args: Any, **options: Any) -> None:
        token = read_token(options["token_file"], options.get("stdin"))
        form = OrgForm(
            data={
                "name": options["name"],
                "org_id": options["org_id"],
                "base_url": options["base_url"],
                "token": token,
            }
        )
        if not form.is_valid():
            raise form_errors(form, OPTIONS)
        try:
            with transaction.atomic():
                org, action = form.save_org()
        except IntegrityError:
            raise CommandError(
                "--org-id: another organization already uses this org id with this API."
            ) from None
        audit.record(
            action or "credential_created",
            org=org,
            actor_name=COMMAND_LINE,
            detail=f"add_org; token ending …{org.token_last4}",
        )
        self.stdout.write(
            f"Added {org.name} ({org.org_id}) at {org.base_url} with token {org.token_hint}."
        )
