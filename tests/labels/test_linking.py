"""When linking merges two users, the absorbed user's labels follow (duplicates stay behind)."""

from __future__ import annotations

from sqlalchemy import select

from tests.identity.test_linking import (
    _twitch_community,
    identity_bot,
    request_code,
    twitch_say,
    user_of,
)
from waddlebot.kernel.security.rbac import Authorizer
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import LabelAssignment
from waddlebot.labels.manager import LabelManager, Target


async def test_labels_of_the_absorbed_user_move(stack_settings: Settings) -> None:
    async with identity_bot(stack_settings) as bot:
        runtime = bot.app.state.runtime
        await twitch_say(bot, "hi")
        await bot.texts("!ping")
        twitch_user = await user_of(bot, "twitch", "t-77")
        alice = await user_of(bot, "playground", "alice")
        community = await _twitch_community(bot)
        labels = LabelManager(runtime.db, runtime.backend.kv, runtime.settings)
        await labels.create_label(community, "vip", permissions=["calendar.autoapprove"])
        await labels.create_label(community, "fan")
        await labels.apply(community, "vip", [Target("user", twitch_user)])
        await labels.apply(community, "fan", [Target("user", twitch_user), Target("user", alice)])
        authorizer = Authorizer(runtime.db, runtime.backend.kv)
        assert (await authorizer.access(community, alice)).labels == ("fan",)

        code = await request_code(bot)
        await twitch_say(bot, f"!verify {code}")
        assert await user_of(bot, "twitch", "t-77") == alice

        worn = await labels.target_labels(community, "user", alice)
        assert [a.label for a in worn] == ["fan", "vip"]
        access = await authorizer.access(community, alice)
        assert access.labels == ("fan", "vip")
        assert "calendar.autoapprove" in access.permissions
        async with runtime.db.read_session() as session:
            left = (
                await session.scalars(
                    select(LabelAssignment.target_id).where(
                        LabelAssignment.target_id == twitch_user
                    )
                )
            ).all()
        assert left == [twitch_user]  # the duplicate "fan" stays with the absorbed user
