"""Service tokens at rest: Fernet encryption with key ids, so keys can rotate.

Stored form: "<key id>:<fernet token>". The key id says which key encrypted it; MultiFernet over
all configured keys decrypts, and the first key encrypts. Keys are configured apart from
SECRET_KEY (DASHBOARD_CREDENTIAL_KEYS), so a database backup alone never reveals a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)


class CredentialDecryptError(Exception):
    def __init__(self) -> None:
        super().__init__(
            "This credential cannot be decrypted with the configured keys: "
            "set the right key in DASHBOARD_CREDENTIAL_KEYS, or re-enter the token."
        )


@dataclass(frozen=True)
class Keyring:
    ids: tuple[str, ...]
    fernets: tuple[Fernet, ...]

    @property
    def primary_id(self) -> str:
        return self.ids[0]


def parse_keys(spec: str) -> Keyring:
    ids: list[str] = []
    fernets: list[Fernet] = []
    for n, item in enumerate(part.strip() for part in spec.split(",") if part.strip()):
        key_id, sep, key = item.partition(":")
        if not sep or not key_id or not key:
            raise ImproperlyConfigured(
                f"DASHBOARD_CREDENTIAL_KEYS entry {n + 1} is not 'id:key' "
                "(a key id, a colon, then a Fernet key)."
            )
        if key_id in ids:
            raise ImproperlyConfigured(f"DASHBOARD_CREDENTIAL_KEYS names key id {key_id!r} twice.")
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"DASHBOARD_CREDENTIAL_KEYS key {key_id!r} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)."
            ) from None
        ids.append(key_id)
    if not ids:
        raise ImproperlyConfigured("DASHBOARD_CREDENTIAL_KEYS holds no key.")
    return Keyring(tuple(ids), tuple(fernets))


@cache
def _keyring(spec: str) -> Keyring:
    ring = parse_keys(spec)
    if getattr(settings, "CREDENTIAL_KEYS_GENERATED", False):
        log.warning(
            "Generated a development credential key in %s/credential_keys. "
            "Set DASHBOARD_CREDENTIAL_KEYS in production.",
            settings.DATA_DIR,
        )
    return ring


def keyring() -> Keyring:
    return _keyring(settings.CREDENTIAL_KEYS)


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(token: str) -> str:
    ring = keyring()
    return f"{ring.primary_id}:{ring.fernets[0].encrypt(token.encode()).decode()}"


def decrypt(stored: str) -> str:
    ring = keyring()
    key_id, _, ciphertext = stored.partition(":")
    # Try the tagged key first, then all: a mislabelled value still opens if any key fits.
    order = list(ring.fernets)
    if key_id in ring.ids:
        order.insert(0, ring.fernets[ring.ids.index(key_id)])
    try:
        return MultiFernet(order).decrypt(ciphertext.encode()).decode()
    except (InvalidToken, ValueError, UnicodeDecodeError):
        raise CredentialDecryptError() from None


def key_id_of(stored: str) -> str:
    return stored.partition(":")[0]


def needs_rotation(stored: str) -> bool:
    return key_id_of(stored) != keyring().primary_id
