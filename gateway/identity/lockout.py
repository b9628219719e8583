"""Lock-out after repeated failures, as a pure rule: what the counters become after a failure, and whether an
account (or machine client) is locked now.

Reaching the threshold locks for `duration` and starts the count again, so after the lock the caller has the
full number of attempts again; attempts during a lock are not counted (they are refused before the password
matters) and do not extend it, so an attacker cannot keep a clerk locked out longer than by failing again after
each lock period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 5
    duration: timedelta = timedelta(minutes=15)

    def is_locked(self, locked_until: datetime | None, now: datetime) -> bool:
        return locked_until is not None and locked_until > now

    def after_failure(self, failed_attempts: int, now: datetime) -> tuple[int, datetime | None]:
        """(failed_attempts, locked_until) to store after one more consecutive failure."""
        failed = failed_attempts + 1
        if failed >= self.threshold:
            return 0, now + self.duration
        return failed, None
