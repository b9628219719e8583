"""The hash chain's rules on entries in memory: how an entry is hashed, and what verification reports."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from gateway.audit.chain import GENESIS, canonical, entry_hash, verify


def _chain(n: int) -> list[dict[str, Any]]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        row = {"seq": seq, "at": datetime(2026, 11, 25, 8, 0, seq, 123456, tzinfo=UTC), "subject": f"u-{seq}",
               "kind": "staff", "role": "window_clerk", "region_code": "320102000000", "method": "POST",
               "path": "/api/v1/applications", "status": 201, "request_id": f"r{seq}", "trace_id": "ab" * 16,
               "client_address": "10.0.0.1", "prev_hash": prev}
        prev = row["entry_hash"] = entry_hash(prev, row)
        rows.append(row)
    return rows


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_entry() -> None:
    (row,) = _chain(1)
    assert canonical(row) == (
        '{"at":"2026-11-25T08:00:01.123456+00:00","client_address":"10.0.0.1","kind":"staff","method":"POST",'
        '"path":"/api/v1/applications","region_code":"320102000000","request_id":"r1","role":"window_clerk",'
        '"seq":1,"status":201,"subject":"u-1","trace_id":"' + "ab" * 16 + '"}').encode()
    assert row["entry_hash"] == hashlib.sha256(GENESIS.encode() + canonical(row)).hexdigest()
    # The same instant in another zone hashes the same: it is written in UTC.
    assert canonical(row | {"at": row["at"].astimezone(timezone(timedelta(hours=8)))}) == canonical(row)


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    rows = _chain(5)
    verdict = verify(rows)
    assert verdict.ok and verdict.entries == 5 and verdict.head_seq == 5 and verdict.head_hash == rows[-1]["entry_hash"]
    assert verify([]).as_dict() == {"ok": True, "entries": 0, "head_seq": 0, "head_hash": GENESIS}


def test_a_changed_entry_is_the_first_broken_link() -> None:
    rows = _chain(5)
    rows[2]["status"] = 200
    verdict = verify(rows)
    assert not verdict.ok and verdict.broken_seq == 3 and "content" in (verdict.reason or "")
    assert verdict.head_seq == 2 and verdict.head_hash == rows[1]["entry_hash"]


def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link() -> None:
    rows = _chain(5)
    rows[2]["subject"] = "someone-else"
    rows[2]["entry_hash"] = entry_hash(rows[2]["prev_hash"], rows[2])
    verdict = verify(rows)
    assert verdict.broken_seq == 4 and "prev_hash" in (verdict.reason or "")


def test_a_removed_entry_is_named() -> None:
    rows = _chain(5)
    del rows[1]
    verdict = verify(rows)
    assert verdict.broken_seq == 3 and verdict.reason == "entry 2 is missing: after seq 1 comes seq 3"
    assert verify(_chain(3)[1:]).broken_seq == 2  # even the first one


def test_swapped_entries_break_at_the_first_of_them() -> None:
    rows = _chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    assert verify(rows).broken_seq == 3  # seq 3 where 2 was due
    renumbered = _chain(5)
    renumbered[1]["seq"], renumbered[2]["seq"] = 3, 2  # contents moved, seq column kept in order
    renumbered[1], renumbered[2] = renumbered[2], renumbered[1]
    verdict = verify(renumbered)
    assert verdict.broken_seq == 2 and "prev_hash" in (verdict.reason or "")
