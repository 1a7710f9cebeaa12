"""A password hasher for tests that counts real password checks and takes as long as a real one."""

from __future__ import annotations

import threading
import time

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast, tests only) that counts each check and makes it last ~50 ms, about what PBKDF2
    takes in production, so that simultaneous sign-ins really overlap."""

    checks = 0
    _lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.checks = 0

    def verify(self, password: str, encoded: str) -> bool:
        with self._lock:
            CountingHasher.checks += 1
        time.sleep(0.05)
        return super().verify(password, encoded)
