from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboard import audit, crypto
from dashboard.management.commands._credentials import COMMAND_LINE
from dashboard.models import AuditEvent, Organization


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored token with the first key of DASHBOARD_CREDENTIAL_KEYS. "
        "Safe to run again: tokens already under that key are left alone. Once it reports "
        "no failures, older keys can be removed from the list."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        primary = crypto.keyring().primary_id
        rotated = current = failed = 0
        pks = Organization.objects.exclude(token_ciphertext="").values_list("pk", flat=True)
        for pk in pks:
            # One short transaction per org, holding its row: a token replaced meanwhile in the
            # dashboard is never overwritten with the old one.
            with transaction.atomic():
                org = Organization.objects.select_for_update().filter(pk=pk).first()
                if org is None or not org.token_ciphertext:
                    continue
                old_key = crypto.key_id_of(org.token_ciphertext)
                try:
                    token = crypto.decrypt(org.token_ciphertext)
                except crypto.CredentialDecryptError as exc:
                    failed += 1
                    self.stderr.write(f"{org.name} ({org.org_id}): {exc}")
                    audit.record(
                        "credential_decrypt_failed",
                        org=org,
                        actor_name=COMMAND_LINE,
                        outcome=AuditEvent.Outcome.FAILED,
                        detail="rotate_credential_keys",
                    )
                    continue
                if not crypto.needs_rotation(org.token_ciphertext):
                    current += 1
                    continue
                Organization.objects.filter(pk=pk).update(token_ciphertext=crypto.encrypt(token))
                rotated += 1
                audit.record(
                    "credential_reencrypted",
                    org=org,
                    actor_name=COMMAND_LINE,
                    detail=f"key {old_key} → {primary}",
                )
        self.stdout.write(f"re-encrypted {rotated}, already current {current}, failed {failed}")
        if failed:
            raise CommandError(
                f"{failed} token{'s' if failed != 1 else ''} could not be decrypted with the "
                "configured keys: add the key that encrypted them to DASHBOARD_CREDENTIAL_KEYS "
                "and run this again, or re-enter those tokens."
            )
