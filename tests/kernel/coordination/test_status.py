"""Who holds what: ``GET /api/coordination/v1/leases`` and ``waddlebot coordination status``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.cli.processes import clean_env, run
from tests.conftest import REDIS_URL, drop_test_keys, require_service
from tests.support import bearer, build_app, live_server
from waddlebot.kernel.backends import open_backend
from waddlebot.kernel.coordination import Coordinator
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings

LEASES = "/api/coordination/v1/leases"


async def test_admins_see_instances_and_leases(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        runtime = server.app.state.runtime
        node = Coordinator(
            runtime.backend.leases, instance_id="node-a", ttl=30, heartbeat=10, items=["s1", "s2"]
        )
        await node.beat()
        assert (await server.client.get(LEASES)).status_code == 401
        key, _ = await create_api_key(runtime.db, name="ops", scopes=["identity:manage"])
        assert (await server.client.get(LEASES, headers=bearer(key))).status_code == 403
        answer = await server.client.get(LEASES, headers=server.operator)
        await node.stop()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(i["id"], i["held"]) for i in body["instances"]] == [("node-a", 2)]
    assert [(lease["item"], lease["holder"]) for lease in body["leases"]] == [
        ("s1", "node-a"),
        ("s2", "node-a"),
    ]
    assert all(lease["token"] > 0 and lease["expires_in"] > 25 for lease in body["leases"])


async def test_cli_status_reads_redis(tmp_path: Path) -> None:
    url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    namespace = f"wbtest-{uuid.uuid4().hex[:12]}"
    backend = await open_backend(url, namespace=namespace)
    env = clean_env(tmp_path) | {"WADDLEBOT_REDIS_URL": url, "WADDLEBOT_REDIS_NAMESPACE": namespace}
    try:
        node = Coordinator(backend.leases, instance_id="node-b", ttl=30, heartbeat=10, items=["x"])
        await node.beat()
        shown = run("coordination", "status", env=env)
        as_json = run("coordination", "status", "--json", env=env)
    finally:
        await drop_test_keys(backend)
        await backend.close()
    assert shown.returncode == 0, shown.stderr
    assert "1 live instance(s), 1 lease(s)" in shown.stdout
    assert "x\tnode-b\ttoken " in shown.stdout
    assert json.loads(as_json.stdout)["leases"][0]["holder"] == "node-b"


def test_cli_status_in_embedded_mode_points_at_the_api(tmp_path: Path) -> None:
    done = run("coordination", "status", env=clean_env(tmp_path))
    assert done.returncode == 1
    assert "GET /api/coordination/v1/leases" in done.stderr
