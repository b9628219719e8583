"""The in-memory timer store: arm / re-arm / cancel, order, limits, bursts at one instant, drop."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.monitoring.timers import TimerStore

MIDNIGHT = 1_790_000_000_000  # some 24:00, in ms


def key(i: int, level: str = "severe") -> str:
    return f"case:320102-20261125-{i:05d}:handling:{level}"


def drain(store: TimerStore, now_ms: int, batch: int | None = None) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    while chunk := store.due(now_ms, batch):
        out += chunk
    return out


def test_arm_then_due_hands_out_once_and_forgets() -> None:
    store = TimerStore()
    store.arm(key(1), 1000)
    assert len(store) == 1 and key(1) in store and store.next_due_ms() == 1000
    assert store.due(999) == []
    assert store.due(1000) == [(key(1), 1000)]
    assert store.due(10_000) == []
    assert len(store) == 0 and key(1) not in store and store.next_due_ms() is None


def test_rearm_replaces_the_previous_timer_later_or_earlier() -> None:
    store = TimerStore()
    store.arm(key(1), 1000)
    store.arm(key(1), 5000)  # moved later (a suspension)
    assert store.due(4999) == [] and store.next_due_ms() == 5000
    store.arm(key(1), 2000)  # moved earlier
    assert len(store) == 1 and store.due_of(key(1)) == 2000
    assert store.due(10_000) == [(key(1), 2000)]


def test_rearm_at_the_same_instant_keeps_the_place_in_the_burst() -> None:
    store = TimerStore()
    for i in range(3):
        store.arm(key(i), MIDNIGHT)
    store.arm(key(0), MIDNIGHT)  # replayed event, same deadline
    assert [k for k, _ in store.due(MIDNIGHT)] == [key(0), key(1), key(2)]


def test_cancel_reports_whether_armed_and_the_instant_is_skipped() -> None:
    store = TimerStore()
    store.arm(key(1), 1000)
    store.arm(key(2), 2000)
    assert store.cancel(key(1)) is True
    assert store.cancel(key(1)) is False
    assert store.cancel("case:unknown") is False
    assert store.next_due_ms() == 2000  # the cancelled instant does not wake anyone
    assert store.due(5000) == [(key(2), 2000)]


def test_cancel_one_of_a_shared_instant_leaves_the_others() -> None:
    store = TimerStore()
    for i in range(5):
        store.arm(key(i), MIDNIGHT)
    assert store.cancel(key(2))
    store.arm(key(3), MIDNIGHT + 1)  # moved out of the burst
    assert store.due(MIDNIGHT) == [(key(0), MIDNIGHT), (key(1), MIDNIGHT), (key(4), MIDNIGHT)]
    assert store.due(MIDNIGHT + 1) == [(key(3), MIDNIGHT + 1)]


def test_earliest_first_and_arm_order_within_an_instant() -> None:
    store = TimerStore()
    store.arm("c", 300)
    store.arm("b", 100)
    store.arm("z", 200)
    store.arm("a", 200)
    store.arm("late", 400)
    assert store.due(300) == [("b", 100), ("z", 200), ("a", 200), ("c", 300)]
    assert list(store) == ["late"]


def test_limit_splits_an_instant_and_spans_instants() -> None:
    store = TimerStore()
    store.arm("early", 50)
    for i in range(5):
        store.arm(key(i), 100)
    store.arm("after", 200)
    assert store.due(1000, limit=0) == []
    assert store.due(1000, limit=3) == [("early", 50), (key(0), 100), (key(1), 100)]
    assert len(store) == 4 and store.next_due_ms() == 100
    assert store.due(1000, limit=3) == [(key(2), 100), (key(3), 100), (key(4), 100)]
    assert store.due(1000, limit=3) == [("after", 200)]
    assert store.due(1000, limit=3) == []


def test_armed_back_after_a_partial_handout_rejoins_its_instant() -> None:
    store = TimerStore()
    for i in range(4):
        store.arm(key(i), 100)
    taken = store.due(100, limit=2)
    for k, due in taken:  # e.g. a failed batch armed again at its original instant
        store.arm(k, due)
    assert [k for k, _ in drain(store, 100)] == [key(2), key(3), key(0), key(1)]


def test_burst_of_100k_at_one_instant_comes_out_whole_in_batches_fast() -> None:
    store = TimerStore()
    n = 100_000
    for i in range(0, 2 * n, 2):  # interleaved with timers spread after the burst
        store.arm(key(i), MIDNIGHT)
        store.arm(key(i + 1), MIDNIGHT + 1 + i)
    started = time.perf_counter()
    batches = []
    while chunk := store.due(MIDNIGHT, limit=5000):
        batches.append(chunk)
    elapsed = time.perf_counter() - started
    assert [len(b) for b in batches] == [5000] * 20
    out = [k for b in batches for k, _ in b]
    assert out == [key(i) for i in range(0, 2 * n, 2)]  # each once, in arm order
    assert len(store) == n and store.next_due_ms() == MIDNIGHT + 1
    assert elapsed < 2.0  # ~0.1 s here; a generous bound for a loaded CI machine


def test_drop_by_keys_and_by_predicate() -> None:
    store = TimerStore()
    for i in range(10):
        store.arm(key(i), MIDNIGHT if i % 2 else 1000 + i)
    assert store.drop([key(0), key(1), "case:not-armed"]) == 2
    assert store.drop(lambda k: k.endswith(("00003:handling:severe", "00004:handling:severe"))) == 2
    assert sorted(store) == sorted(key(i) for i in (2, 5, 6, 7, 8, 9))
    assert [k for k, _ in drain(store, MIDNIGHT)] == [key(2), key(6), key(8), key(5), key(7), key(9)]


def test_drop_refuses_a_single_string() -> None:
    store = TimerStore()
    store.arm("ab", 1)
    with pytest.raises(TypeError):
        store.drop("ab")


def test_churn_does_not_grow_the_heap_without_bound() -> None:
    store = TimerStore()
    for i in range(1000):
        store.arm(key(i), 10_000 + i)
    for round_ in range(50):  # every clock moved 50 times: 50,000 stale instants if never compacted
        for i in range(1000):
            store.arm(key(i), 100_000 * (round_ + 1) + i)
    assert len(store) == 1000
    assert len(store._heap) <= max(2 * len(store._buckets), 1024) + 1
    assert [d for _, d in drain(store, 10**9)] == [100_000 * 50 + i for i in range(1000)]


# A model-based check: any sequence of arm / cancel / due behaves like a plain dict of key -> due.
_keys = st.sampled_from([f"k{i}" for i in range(8)])
_op = st.one_of(
    st.tuples(st.just("arm"), _keys, st.integers(0, 20)),
    st.tuples(st.just("cancel"), _keys, st.just(0)),
    st.tuples(st.just("due"), st.integers(0, 20), st.one_of(st.none(), st.integers(0, 4))),
    st.tuples(st.just("drop"), st.lists(_keys, max_size=3), st.just(0)),
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(_op, max_size=60))
def test_behaves_like_a_dict_of_dues(ops: list[tuple]) -> None:
    store = TimerStore()
    model: dict[str, int] = {}
    order: dict[str, int] = {}  # when each key was last armed at a new instant (its place in a burst)
    for tick, op in enumerate(ops):
        if op[0] == "arm":
            _, k, due = op
            if model.get(k) != due:
                order[k] = tick
            model[k] = due
            store.arm(k, due)
        elif op[0] == "cancel":
            _, k, _ = op
            assert store.cancel(k) == (model.pop(k, None) is not None)
        elif op[0] == "drop":
            _, ks, _ = op
            expected = len({k for k in ks if k in model})
            for k in ks:
                model.pop(k, None)
            assert store.drop(ks) == expected
        else:
            _, now, limit = op
            ready = sorted((k for k, d in model.items() if d <= now), key=lambda k: (model[k], order[k]))
            if limit is not None:
                ready = ready[:limit]
            assert store.due(now, limit) == [(k, model[k]) for k in ready]
            for k in ready:
                del model[k]
        assert len(store) == len(model)
        assert store.next_due_ms() == (min(model.values()) if model else None)
