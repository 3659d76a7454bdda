"""Coordinators in real OS processes sharing 300 items on real Redis (issue #17).

Each process runs :mod:`tests.kernel.coordination.lease_runner` (the real ``Coordinator`` and
its own run loop over the ``RedisBackend``, configured through WADDLEBOT_* settings) and
writes a fencing log of its own. Three start; a fourth joins; one of the four is SIGKILLed.
What the logs must show: no item ever held by two instances at once and tokens strictly
increasing across handovers. What Redis must show: fair shares, little movement on a join,
the dead instance's items taken over within one TTL plus one heartbeat.

About the fair-share bound: with 300 items one instance's share out of three has a standard
deviation of about 8 items, so ±10 % is a property of these instance names (checked against
the model, :class:`Ring`, too); the statistical properties at scale (100 instances, 100,000
items, ±10 % and 1/N movement) are simulated in ``test_rendezvous.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL, drop_test_keys, require_service
from waddlebot.kernel.backends import Backend, open_backend
from waddlebot.kernel.coordination import Ring

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[3]
TTL = 2.0
BEAT = 0.5
# Slack for the beat that takes over: it renews ~75 leases and acquires ~23 orphans, one
# Redis round trip each, before the last acquisition is logged. On the shared 2-core machine
# at load 6-8 such a beat took 0.1-1.3 s (takeovers measured 2.3-3.0 s); idle, ~0.05 s.
MARGIN = 1.0
ITEMS = [f"twitch:channel:{n}" for n in range(300)]
NAMES = [f"proc-{n}" for n in range(4)]
SETTLE_WITHIN = 20.0  # the first three include Python start-up: ~2.5 s, 8 s at load 7


class Instance:
    """One ``lease_runner`` process with its fencing log and its output in ``root``."""

    def __init__(self, name: str, redis_url: str, namespace: str, root: Path) -> None:
        self.name = name
        self.log_path = root / f"{name}.fencing.jsonl"
        self.output_path = root / f"{name}.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEBOT_")}
        env.update(
            PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            WADDLEBOT_REDIS_URL=redis_url,
            WADDLEBOT_REDIS_NAMESPACE=namespace,
            WADDLEBOT_LEASE_TTL=str(TTL),
            WADDLEBOT_HEARTBEAT_INTERVAL=str(BEAT),
            WADDLEBOT_INSTANCE_ID=name,
            WADDLEBOT_LOG_LEVEL="WARNING",
        )
        with self.output_path.open("w") as output:
            self.process = subprocess.Popen(  # started now, joins at go()
                [
                    sys.executable,
                    "-m",
                    "tests.kernel.coordination.lease_runner",
                    str(self.log_path),
                    str(len(ITEMS)),
                ],
                env=env,
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def go(self) -> None:
        """Let it join (it reads the line once its imports are done)."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.close()

    def kill(self) -> float:
        """SIGKILL; returns the moment (``time.time()``) just before the signal."""
        killed_at = time.time()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        return killed_at

    def terminate(self) -> None:
        """SIGTERM: a clean stop, every lease released."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()  # never let join: it just ends
        if self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        """Wait for the end, SIGKILL if it does not come."""
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def events(self) -> list[dict[str, object]]:
        if not self.log_path.exists():
            return []
        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by SIGKILL
                continue
        return found

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")[-3000:]


@dataclass
class Holding:
    """One holder's tenure of one item under one token, as its fencing log tells it."""

    item: str
    holder: str
    token: int
    start: float  # when acquire returned
    end: float  # min(released, last deadline it acquired or renewed to)


def holdings(events: list[dict[str, object]]) -> dict[str, list[Holding]]:
    """Per item, every tenure in order of its start."""
    acquired: dict[tuple[str, str, int], float] = {}
    released: dict[tuple[str, str, int], float] = {}
    until: dict[tuple[str, str, int], float] = {}
    for event in events:
        if event["event"] == "beat":
            continue
        key = (str(event["item"]), str(event["holder"]), int(event["token"]))  # type: ignore[call-overload]
        moment, deadline = float(event["t"]), float(event["until"])  # type: ignore[arg-type]
        if event["event"] == "acquired":
            assert key not in acquired, f"acquired twice under one token: {key}"
            acquired[key] = moment
        elif event["event"] == "released":
            released[key] = moment
        if event["event"] in ("acquired", "renewed"):
            until[key] = max(until.get(key, deadline), deadline)
    assert set(released) <= set(acquired) and set(until) == set(acquired)
    by_item: dict[str, list[Holding]] = {}
    for key, start in acquired.items():
        end = min(released.get(key, until[key]), until[key])
        by_item.setdefault(key[0], []).append(Holding(*key, start, end))
    for tenures in by_item.values():
        tenures.sort(key=lambda holding: holding.start)
    return by_item


async def owners(backend: Backend) -> dict[str, str]:
    return {record.item: record.holder for record in await backend.leases.held()}


async def settled(backend: Backend, names: list[str]) -> dict[str, str]:
    """Wait until exactly ``names`` are live and hold every item as rendezvous hashing says."""
    expected = Ring(names).assign(ITEMS)
    deadline = time.monotonic() + SETTLE_WITHIN
    while True:
        now = await owners(backend)
        live = set(await backend.leases.instances())
        if live == set(names) and now == expected:
            return now
        if time.monotonic() > deadline:
            wrong = sum(now.get(item) != holder for item, holder in expected.items())
            raise AssertionError(f"not settled on {names}: live {live}, {wrong} items off")
        await asyncio.sleep(0.2)  # gently: the machine's cores are the coordinators' too


@pytest.fixture
async def redis() -> AsyncIterator[tuple[str, Backend]]:
    url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    namespace = f"wbtest-{uuid.uuid4().hex[:12]}"
    backend = await open_backend(url, namespace=namespace)
    try:
        yield url, backend
    finally:
        await drop_test_keys(backend)
        await backend.close()


async def test_processes_share_300_items_fenced_fair_and_take_over_a_killed_one(
    redis: tuple[str, Backend], tmp_path: Path
) -> None:
    url, backend = redis
    namespace = backend.namespace  # type: ignore[attr-defined]
    instances: list[Instance] = []

    def start(name: str) -> Instance:
        instance = Instance(name, url, namespace, tmp_path)
        instances.append(instance)
        return instance

    try:
        began = time.monotonic()
        async with asyncio.timeout(40):
            first, newcomer = [start(name) for name in NAMES[:3]], start(NAMES[3])
            for instance in first:
                instance.go()
            three = await settled(backend, NAMES[:3])
            phases = {"three settled": time.monotonic() - began}
            shares = Counter(three.values())
            assert all(90 <= shares[name] <= 110 for name in NAMES[:3]), shares

            joined = time.monotonic()
            newcomer.go()  # a fourth joins
            four = await settled(backend, NAMES)
            phases["four settled"] = time.monotonic() - joined
            moved = {item for item in ITEMS if three[item] != four[item]}
            assert len(moved) <= 0.3 * len(ITEMS), len(moved)
            assert {four[item] for item in moved} == {NAMES[3]}  # only to the newcomer

            victim = first[1]
            orphans = {item for item, holder in four.items() if holder == victim.name}
            killed_at = victim.kill()
            survivors = [name for name in NAMES if name != victim.name]
            after = await settled(backend, survivors)
            assert set(after) == set(ITEMS)
            taken = {
                str(event["item"]): float(event["t"])  # type: ignore[arg-type]
                for instance in instances
                if instance is not victim
                for event in instance.events()
                if event["event"] == "acquired" and event["item"] in orphans
            }
            assert set(taken) == orphans
            takeover = max(taken.values()) - killed_at
            phases["settled after the kill"] = time.time() - killed_at
            print(f"{len(orphans)} items taken over {takeover:.2f}s after the SIGKILL")
            beats = [  # how long the survivors' beats took then, for a failure's message
                round(float(event["took"]), 2)  # type: ignore[arg-type]
                for instance in instances
                if instance is not victim
                for event in instance.events()
                if event["event"] == "beat" and killed_at < float(event["t"]) < killed_at + 5  # type: ignore[arg-type]
            ]
            assert takeover <= TTL + BEAT + MARGIN, (takeover, beats)
            await asyncio.sleep(2 * BEAT)
    except BaseException:
        for instance in instances:
            print(f"--- {instance.name} (exit {instance.process.poll()})\n{instance.output()}")
        raise
    finally:
        for instance in instances:  # all at once: the last ones may take what others release
            instance.terminate()
        for instance in instances:
            instance.wait()

    phases["whole test, all stopped"] = time.monotonic() - began
    print(", ".join(f"{phase} {seconds:.1f}s" for phase, seconds in phases.items()))
    assert [instance.process.returncode for instance in instances] == [0, -9, 0, 0], [
        instance.output() for instance in instances
    ]
    assert await backend.leases.held() == []  # clean stops released everything
    assert await backend.leases.instances() == {}  # and left the registry

    # The fencing logs: per item, tenures never overlap and tokens strictly increase.
    by_item = holdings([event for instance in instances for event in instance.events()])
    assert set(by_item) == set(ITEMS)
    handovers = 0
    for item, tenures in by_item.items():
        for before, later in itertools.pairwise(tenures):
            handovers += 1
            assert before.end <= later.start, (item, before, later)
            assert before.token < later.token, (item, before, later)
    assert handovers >= len(moved) + len(orphans)
