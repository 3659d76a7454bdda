"""``waddlebot chat`` (a real process) shows what the bot posts into the channel on its own:
a job scheduled by ``!announce`` appears as ``bot: …`` while the chat waits for input."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.cli.processes import WADDLEBOT, clean_env
from tests.scheduling_support import announcer_app
from tests.support import live_server
from waddlebot.kernel.settings import Settings


async def test_chat_prints_a_scheduled_message_while_waiting_for_input(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "server", secret_key="chat-secret")  # type: ignore[call-arg]
    async with live_server(announcer_app(settings)) as server:
        env = clean_env(tmp_path) | {"WADDLEBOT_SECRET_KEY": "chat-secret"}
        chat = await asyncio.create_subprocess_exec(
            WADDLEBOT,
            "chat",
            "--url",
            server.url,
            "--user",
            "alice",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        assert chat.stdin is not None and chat.stdout is not None
        lines: list[str] = []
        try:
            chat.stdin.write(b"!announce 0.5 tea-time\n")
            await chat.stdin.drain()
            async with asyncio.timeout(30):
                while "bot: announcement: tea-time" not in lines:
                    line = await chat.stdout.readline()
                    assert line, f"chat exited early: {lines}"
                    lines.append(line.decode().strip())
            chat.stdin.close()
            async with asyncio.timeout(30):
                assert await chat.wait() == 0
        finally:
            if chat.returncode is None:
                chat.kill()
                await chat.wait()
    assert lines == ["bot: scheduled", "bot: announcement: tea-time"]
