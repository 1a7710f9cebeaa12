from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db import transaction

from dashboard import audit
from dashboard.baseurls import normalize_base_url
from dashboard.forms import TokenForm, validate_org_id
from dashboard.management.commands._credentials import (
    COMMAND_LINE,
    TokenCommand,
    form_errors,
    read_token,
)
from dashboard.models import Organization


class Command(TokenCommand):
    help = (
        "Replace an organization's service token. The token is read from a file (or stdin "
        "with --token-file -), never from the command line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org-id", required=True, help="The Devin org id, like org-abc123.")
        parser.add_argument(
            "--base-url",
            help="The org's API base URL; needed only when orgs under two APIs share the id.",
        )
        self.add_token_file_argument(parser, "the new service token")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            org_id = validate_org_id(options["org_id"])
            base_url = normalize_base_url(options["base_url"]) if options["base_url"] else None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        token = read_token(options["token_file"], options.get("stdin"))
        form = TokenForm(data={"token": token})
        if not form.is_valid():
            raise form_errors(form, {"token": "token"})

        with transaction.atomic():
            matches = Organization.objects.select_for_update().filter(org_id=org_id)
            if base_url:
                matches = matches.filter(base_url=base_url)
            found = list(matches)
            if not found:
                where = f" at {base_url}" if base_url else ""
                raise CommandError(
                    f"No organization has org id {org_id}{where}. Add it with add_org."
                )
            if len(found) > 1:
                urls = ", ".join(org.base_url for org in found)
                raise CommandError(
                    f"{len(found)} organizations have org id {org_id} ({urls}): "
                    "say which with --base-url."
                )
            org = found[0]
            action = "credential_replaced" if org.has_token else "credential_created"
            org.set_token(form.cleaned_data["token"])
            org.save()
            audit.record(
                action,
                org=org,
                actor_name=COMMAND_LINE,
                detail=f"set_credential; token ending …{org.token_last4}",
            )
        self.stdout.write(f"Stored a new token for {org.name} ({org.org_id}): {org.token_hint}.")
