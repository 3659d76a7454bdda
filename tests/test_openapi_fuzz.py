"""Schema fuzzing: schemathesis drives every operation of the full app's OpenAPI (all
services, embedded stack on a temporary data directory) with an admin key and without one,
over real HTTP on loopback. No answer may be a server error.

Bounded: a few examples per operation with the admin key, fewer without one (an anonymous
request differs only at the credential check, and the public operations, which ignore the key,
get the admin run's examples too), so the whole run stays in minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from tests.support import serve_in_thread
from waddlebot.app import SERVICES, create_app
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.service import DiscordService
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.service import SlackService
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database

UNREACHABLE = "http://127.0.0.1:9"  # third parties are never called for real here
PLATFORMS = {"twitch", "slack", "discord"}  # configured here, so their webhooks verify


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The whole app served in a thread, and an admin key for it."""
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    settings = Settings(
        data_dir=data_dir,
        secret_key="fuzz",
        log_level="CRITICAL",
        playground_reply_timeout=1.0,
        oauth_twitch_auth_base=UNREACHABLE,
        oauth_twitch_api_base=UNREACHABLE,
        oauth_discord_base=UNREACHABLE,
        oauth_slack_base=UNREACHABLE,
    )
    services = [SERVICES[name]() for name in SERVICES if name not in PLATFORMS]
    services += [
        TwitchService(TwitchSettings(eventsub_secret="fuzz-eventsub-secret", api_base=UNREACHABLE)),
        SlackService(SlackSettings(signing_secret="fuzz-signing-secret", api_base=UNREACHABLE)),
        DiscordService(DiscordSettings(public_key="ab" * 32, api_base=UNREACHABLE)),
    ]
    with serve_in_thread(create_app(settings, instances=services)) as url:
        yield url, asyncio.run(_admin_key(settings))


async def _admin_key(settings: Settings) -> str:
    db = Database(settings.resolved_database_url)
    try:
        key, _ = await create_api_key(db, name="fuzz-admin", scopes=["admin"])
    finally:
        await db.close()
    return key


def _operations() -> dict[str, Any]:
    """Every operation of the full app's OpenAPI, by label (``GET /path``)."""
    app = create_app(Settings(data_dir=Path("/nonexistent"), secret_key="schema"))
    schema = schemathesis.openapi.from_dict(app.openapi())
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[operation.label] = operation
    return found


OPERATIONS = _operations()
EXAMPLES = {"admin": 12, "anonymous": 4}  # per operation; derandomized, so the same every run


def fuzz(who: str) -> settings:
    return settings(
        max_examples=EXAMPLES[who],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.mark.parametrize("who", ["admin", "anonymous"])
@pytest.mark.parametrize("label", list(OPERATIONS))
def test_no_operation_answers_a_server_error(
    label: str, who: str, live_app: tuple[str, str]
) -> None:
    url, admin_key = live_app
    headers = {"X-API-Key": admin_key} if who == "admin" else {}
    operation = OPERATIONS[label]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @fuzz(who)
    @given(case=cases)
    def no_server_error(case: Any) -> None:
        response = case.call(base_url=url, headers=headers, timeout=15)
        assert response.status_code < 500, (
            f"{label} as {who}: {response.status_code} {response.text[:300]}\n"
            f"{case.as_curl_command()}"
        )

    no_server_error()
