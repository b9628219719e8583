"""The audit log's hash chain: how an entry is hashed, and how a chain is checked link by link.

entry_hash = sha256(prev_hash ‖ canonical JSON of the entry), where prev_hash is the previous entry's entry_hash
(64 zeros for the first) and the canonical JSON is the entry's fields — seq included, prev_hash and entry_hash
not — with sorted keys, no spaces, UTF-8, the instant as ISO 8601 in UTC with microseconds. Changing an entry
breaks its own hash; removing or reordering entries breaks the seq sequence or the link to the previous hash.
Rewriting the whole tail after a point with fresh hashes is not detectable from the table alone: the head
(seq and entry_hash) that verification reports is what an operator records elsewhere to anchor the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
# The hashed fields, in the table's column names.
FIELDS = ("seq", "at", "subject", "kind", "role", "region_code", "method", "path", "status", "request_id",
          "trace_id", "client_address")


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(entry: Mapping[str, Any]) -> bytes:
    fields = {name: entry[name] for name in FIELDS}
    fields["at"] = _instant(fields["at"])
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(entry)).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int  # how many were checked (up to and including the broken one)
    head_seq: int  # the last intact entry's seq (0 for an empty log)
    head_hash: str  # its entry_hash (GENESIS for an empty log)
    broken_seq: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq,
                                "head_hash": self.head_hash}
        if not self.ok:
            body["broken"] = {"seq": self.broken_seq, "reason": self.reason}
        return body


def verify(rows: Iterable[Mapping[str, Any]]) -> Verdict:
    """Walks the entries in seq order; stops at the first one that does not link up and says why."""
    expected_seq, prev = 1, GENESIS
    count = 0
    for row in rows:
        count += 1
        seq = row["seq"]
        if seq != expected_seq:
            why = (f"entry {expected_seq} is missing: after seq {expected_seq - 1} comes seq {seq}"
                   if seq > expected_seq else f"seq {seq} is out of order after seq {expected_seq - 1}")
            return Verdict(False, count, expected_seq - 1, prev, seq, why)
        if row["prev_hash"] != prev:
            return Verdict(False, count, seq - 1, prev, seq,
                           "prev_hash does not match the entry before it (an entry was removed, inserted or moved)")
        if entry_hash(prev, row) != row["entry_hash"]:
            return Verdict(False, count, seq - 1, prev, seq, "entry_hash does not match the entry's content "
                                                             "(the entry was changed after it was written)")
        prev = row["entry_hash"]
        expected_seq += 1
    return Verdict(True, count, expected_seq - 1, prev)
