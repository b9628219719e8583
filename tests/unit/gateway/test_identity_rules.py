"""Pure rules of identity: argon2 hashing with a dummy for unknown names, and the lock-out counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher

from gateway.identity.lockout import LockoutPolicy
from gateway.identity.passwords import Passwords

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
# Cheap parameters: these tests check behaviour, not cost.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_a_hash_is_argon2id_and_verifies_only_its_password() -> None:
    passwords = Passwords(FAST)
    stored = passwords.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "correct horse")
    assert not passwords.verify(stored, "correct horse ")
    assert not passwords.verify("not a hash", "correct horse")


def test_an_unknown_account_never_verifies_even_with_the_dummy_password() -> None:
    passwords = Passwords(FAST)
    assert not passwords.verify(None, "anything")
    assert not passwords.verify(None, "no such account: the time of a real check")


def test_a_hash_made_with_old_parameters_needs_rehash() -> None:
    old = Passwords(FAST).hash("pw")
    assert Passwords().needs_rehash(old)
    assert not Passwords().needs_rehash(Passwords().hash("pw"))


def test_the_threshold_locks_for_the_duration_and_restarts_the_count() -> None:
    policy = LockoutPolicy(threshold=3, duration=timedelta(minutes=15))
    failed, locked = 0, None
    for expected in (1, 2):
        failed, locked = policy.after_failure(failed, NOW)
        assert (failed, locked) == (expected, None)
    failed, locked = policy.after_failure(failed, NOW)
    assert failed == 0 and locked == NOW + timedelta(minutes=15)
    assert policy.is_locked(locked, NOW + timedelta(minutes=14, seconds=59))
    assert not policy.is_locked(locked, NOW + timedelta(minutes=15))
    assert not policy.is_locked(None, NOW)
