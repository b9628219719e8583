"""Password and client-secret hashing: argon2id through argon2-cffi, its RFC 9106 defaults.

An unknown username is checked against a dummy hash of the same parameters, so it costs the same argon2 time as a
wrong password and a caller cannot tell from the answer or its timing which usernames exist.

Each check takes 64 MiB and about a third of a second of one core: at most one check per core runs at a time, so a
burst of logins queues instead of taking the machine's memory (forty request threads would want 2.5 GiB).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass
class Passwords:
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    _dummy: str = ""
    _slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(os.cpu_count() or 1))

    def hash(self, secret: str) -> str:
        with self._slots:
            return self.hasher.hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> bool:
        """True when `secret` matches; `stored_hash` None (no such account) spends the same time and is False."""
        if stored_hash is None:
            if not self._dummy:
                self._dummy = self.hash("no such account: the time of a real check")
            stored_hash, known = self._dummy, False
        else:
            known = True
        try:
            with self._slots:
                self.hasher.verify(stored_hash, secret)
        except (VerificationError, InvalidHashError, UnicodeEncodeError):
            return False
        return known

    def needs_rehash(self, stored_hash: str) -> bool:
        """The hash was made with other parameters than today's: re-hash the password the caller just proved."""
        return self.hasher.check_needs_rehash(stored_hash)
