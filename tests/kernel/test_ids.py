"""Ids cut from a pooled random source: valid UUID4s, never repeated, not shared with a fork;
time-ordered UUIDv7s for rows written on every message."""

from __future__ import annotations

import os
import time
import uuid

import pytest

from waddlebot.kernel.ids import new_id, new_ordered_id, ordered_id


def test_an_id_is_a_uuid4_in_hex() -> None:
    for _ in range(300):  # crosses a pool refill (256 ids per pool)
        value = new_id()
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)


def test_a_forked_child_does_not_hand_out_the_parents_next_ids() -> None:
    new_id()  # the parent's pool is now partly used
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next ids and leave without running pytest's teardown
        os.close(read)
        os.write(write, " ".join(new_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_ids = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent_ids = {new_id() for _ in range(5)}
    assert len(child_ids) == 5
    assert not child_ids & parent_ids


def test_an_ordered_id_is_a_uuid7_that_starts_with_its_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    values = [new_ordered_id() for _ in range(300)]
    after = time.time_ns() // 1_000_000
    for value in values:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= int(value[:12], 16) <= after
    assert len(set(values)) == len(values)


def test_ids_made_later_sort_later() -> None:
    earlier = new_ordered_id()
    time.sleep(0.002)
    assert new_ordered_id() > earlier
    assert ordered_id(1, bytes(10)) < ordered_id(2, bytes(10)) < ordered_id(2, b"\xff" * 10)


def test_an_ordered_id_needs_ten_bytes_after_its_time() -> None:
    with pytest.raises(ValueError, match="10 bytes"):
        ordered_id(1, b"short")


def test_a_time_outside_what_fits_sorts_at_an_end_instead_of_failing() -> None:
    assert ordered_id(-5, bytes(10))[:12] == "000000000000"
    assert ordered_id(2**60, bytes(10))[:12] == "ffffffffffff"
