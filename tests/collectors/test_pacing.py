"""Pacing waits and platform holds are counted per platform (real backends)."""

from __future__ import annotations

import time
import uuid

from waddlebot.collectors.pacing import hold_until, wait_for_slot, wait_for_slots, wait_if_held
from waddlebot.kernel.backends import Backend, RateWindow
from waddlebot.kernel.observability.metrics import REGISTRY


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_waits_and_holds_are_counted_by_platform(backend: Backend) -> None:
    key = f"twitch:test:{uuid.uuid4().hex[:8]}"
    waits = sample("waddlebot_pacing_waits_total", platform="twitch", reason="window")
    await wait_for_slot(backend.kv, key, limit=1, window=0.2)
    assert sample("waddlebot_pacing_waits_total", platform="twitch", reason="window") == waits
    await wait_for_slot(backend.kv, key, limit=1, window=0.2)  # the window is full: waits
    assert sample("waddlebot_pacing_waits_total", platform="twitch", reason="window") == waits + 1
    assert sample("waddlebot_pacing_wait_seconds_total", platform="twitch", reason="window") > 0

    limited = sample("waddlebot_outbound_rate_limited_total", platform="twitch")
    held = sample("waddlebot_pacing_waits_total", platform="twitch", reason="hold")
    await hold_until(backend.kv, key, 0.2)
    await hold_until(backend.kv, key, 0.2, rate_limited=False)  # our own hold: not a 429
    assert sample("waddlebot_outbound_rate_limited_total", platform="twitch") == limited + 1
    await wait_if_held(backend.kv, key)
    assert sample("waddlebot_pacing_waits_total", platform="twitch", reason="hold") == held + 1


async def test_keys_of_no_known_platform_share_one_label(backend: Backend) -> None:
    before = sample("waddlebot_outbound_rate_limited_total", platform="other")
    await hold_until(backend.kv, f"{uuid.uuid4().hex}:x", 0.05)
    assert sample("waddlebot_outbound_rate_limited_total", platform="other") == before + 1


async def test_a_slot_waits_out_a_hold_in_the_same_round_trip(backend: Backend) -> None:
    """``wait_for_slots(held=…)``: the platform's back-off is slept out before the slot is
    taken, counted as a hold wait, and never as a full window."""
    hold, window = f"twitch:hold:{uuid.uuid4().hex[:8]}", f"twitch:w:{uuid.uuid4().hex[:8]}"
    held = sample("waddlebot_pacing_waits_total", platform="twitch", reason="hold")
    windows = sample("waddlebot_pacing_waits_total", platform="twitch", reason="window")
    await hold_until(backend.kv, hold, 0.3)
    started = time.monotonic()
    await wait_for_slots(backend.kv, RateWindow(window, 5, 1.0), held=[hold], max_wait=0.01)
    assert time.monotonic() - started >= 0.25  # slept out whatever max_wait says, as before
    assert sample("waddlebot_pacing_waits_total", platform="twitch", reason="hold") == held + 1
    assert sample("waddlebot_pacing_waits_total", platform="twitch", reason="window") == windows
    assert (await backend.kv.hit_rate_limit(f"pace:{window}", limit=5, window=1.0)).remaining == 3
