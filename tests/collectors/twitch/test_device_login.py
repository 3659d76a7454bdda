"""``waddlebot twitch login``: the device code grant against the fake Twitch over HTTP, the
CLI as a real process; a public client (no secret) stores and refreshes the bot's tokens."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path

from sqlalchemy import text

from tests.cli.processes import clean_env, run
from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import BOT, CLIENT_ID, DEVICE_GRANT, FakeTwitch
from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.device_login import (
    SLOW_DOWN_STEP,
    DeviceLoginFailed,
    request_code,
    wait_for_tokens,
)
from waddlebot.collectors.twitch.settings import BOT_SCOPES
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database

SECRET_KEY = "test-secret"


def public_env(tmp_path: Path, fake: FakeTwitch) -> dict[str, str]:
    """A public client: client id, no client secret, the fake as Twitch."""
    return clean_env(tmp_path) | {
        "WADDLEBOT_SECRET_KEY": SECRET_KEY,
        "WADDLEBOT_TWITCH_CLIENT_ID": CLIENT_ID,
        "WADDLEBOT_TWITCH_AUTH_BASE": f"{fake.url}/oauth2",
        "WADDLEBOT_TWITCH_API_BASE": f"{fake.url}/helix",
    }


async def login(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a thread so this loop keeps serving the fake Twitch."""
    return await asyncio.to_thread(run, "twitch", "login", env=env, timeout=60)


async def test_device_login_stores_sealed_tokens_and_refreshes_without_secret(
    tmp_path: Path, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.device_script = ["authorization_pending", "authorization_pending"]
    done = await login(public_env(tmp_path, fake_twitch))
    assert done.returncode == 0, done.stderr
    assert "https://www.twitch.tv/activate?public=true&device-code=WADD-" in done.stdout
    assert "enter the code WADD-" in done.stdout
    assert f"the bot speaks as {BOT['login']} (id {BOT['id']})" in done.stdout

    [asked] = fake_twitch.calls("POST", "/oauth2/device")
    assert asked.body == {"client_id": CLIENT_ID, "scopes": " ".join(BOT_SCOPES)}
    polls = fake_twitch.calls("POST", "/oauth2/token")
    assert [poll.status for poll in polls] == [400, 400, 200]
    assert all(poll.body["grant_type"] == DEVICE_GRANT for poll in polls)
    assert all("client_secret" not in poll.body for poll in polls)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(polls)]
    assert polls[0].at - asked.at >= 0.18 and all(gap >= 0.18 for gap in gaps)  # interval 0.2
    assert fake_twitch.calls("GET", "/oauth2/validate")

    # Sealed exactly as the authorisation-code flow stores them, and refreshable without a
    # client secret (public client).
    [access] = fake_twitch.user_tokens
    [refresh] = fake_twitch.refresh_tokens
    core = Settings(data_dir=tmp_path / "data", secret_key=SECRET_KEY)
    db = Database(core.resolved_database_url)
    twitch = Twitch.build(twitch_settings(fake_twitch, client_secret=None), core, db)
    try:
        async with db.session() as session:
            row = (await session.execute(text("SELECT * FROM twitch_tokens"))).mappings().one()
        assert row["user_id"] == BOT["id"] and row["login"] == BOT["login"]
        assert access not in str(dict(row)) and refresh not in str(dict(row))
        assert core.secret_box.decrypt(row["refresh_token_sealed"]) == refresh
        renewed = await twitch.auth.user_token(stale=access)
    finally:
        await twitch.close()
        await db.close()
    assert renewed.access_token != access and renewed.user_id == BOT["id"]
    [refreshed] = [
        r
        for r in fake_twitch.calls("POST", "/oauth2/token")
        if r.body["grant_type"] != DEVICE_GRANT
    ]
    assert refreshed.body["grant_type"] == "refresh_token" and refreshed.status == 200
    assert "client_secret" not in refreshed.body


async def test_declined_and_expired_codes_end_with_one_line(
    tmp_path: Path, fake_twitch: FakeTwitch
) -> None:
    env = public_env(tmp_path, fake_twitch)
    fake_twitch.device_script = ["authorization_pending", "access_denied"]
    declined = await login(env)
    fake_twitch.device_script = ["expired_token"]
    expired = await login(env)
    fake_twitch.device_script = ["authorization_pending"] * 100
    fake_twitch.device_expires_in = 1
    timed_out = await login(env)
    assert (declined.returncode, expired.returncode, timed_out.returncode) == (1, 1, 1)
    # The last line is the operator's; any before it are the structured AUTH log lines.
    last = [done.stderr.strip().splitlines()[-1] for done in (declined, expired, timed_out)]
    assert last[0] == "error: the Twitch account declined the authorisation"
    expected = "error: the code expired before it was entered; run the login again"
    assert last[1:] == [expected, expected]
    assert "Traceback" not in declined.stderr + expired.stderr + timed_out.stderr
    assert len(fake_twitch.calls("POST", "/oauth2/token")) <= 3 + 5  # stopped polling in time
    assert fake_twitch.user_tokens == {}


async def test_slow_down_widens_the_interval(tmp_path: Path, fake_twitch: FakeTwitch) -> None:
    fake_twitch.device_script = ["authorization_pending", "slow_down", "authorization_pending"]
    core = Settings(data_dir=tmp_path / "data", secret_key=SECRET_KEY)
    db = Database(core.resolved_database_url)
    await db.migrate()
    twitch = Twitch.build(twitch_settings(fake_twitch, client_secret=None), core, db)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    try:
        code = await request_code(twitch.auth)
        token = await wait_for_tokens(twitch.auth, code, sleep=sleep)
    finally:
        await twitch.close()
        await db.close()
    assert token.login == BOT["login"]
    assert waits == [0.2, 0.2, 0.2 + SLOW_DOWN_STEP, 0.2 + SLOW_DOWN_STEP]


async def test_missing_client_id_is_one_line(tmp_path: Path, fake_twitch: FakeTwitch) -> None:
    env = public_env(tmp_path, fake_twitch)
    del env["WADDLEBOT_TWITCH_CLIENT_ID"]
    done = await login(env)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: set WADDLEBOT_TWITCH_CLIENT_ID"


def test_declined_is_an_auth_error() -> None:
    from waddlebot.collectors.twitch.auth import TwitchAuthError

    assert issubclass(DeviceLoginFailed, TwitchAuthError)
