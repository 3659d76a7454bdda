"""``!label`` through the playground and the real router on both stacks, including a label
that grants ``labels.manage`` to a plain member."""

from __future__ import annotations

import logging

import pytest
import structlog

from tests.labels.helpers import API, bearer, chatter, community_of, key_for, label_bot, set_role
from waddlebot.kernel.settings import Settings

BOSS = {"user": "boss", "role": "broadcaster"}


async def test_label_commands(stack_settings: Settings) -> None:
    async with label_bot(stack_settings) as bot:
        await community_of(bot)
        await chatter(bot, "carol")
        assert await bot.texts("!label list", user="carol") == ["This community has no labels yet."]
        assert await bot.texts("!label create Top Fans #00ff00", **BOSS) == [
            "Label Top Fans created (#00FF00)."
        ]
        assert await bot.texts("!label create bad!", **BOSS) == [
            "A label name is 1–50 characters: letters, digits, spaces, '_' and '-', "
            "starting with a letter or digit."
        ]
        assert await bot.texts("!label add @Carol top fans 12h", **BOSS) == [
            "carol now has the label Top Fans (11h 59m left)."
        ]
        assert await bot.texts("!label show", user="carol") == [
            "Your labels: Top Fans (11h 59m left)."
        ]
        assert await bot.texts("!label add carol top fans", **BOSS) == [
            "carol now has the label Top Fans."
        ]
        assert await bot.texts("!label show carol", user="someone") == ["carol's labels: Top Fans."]
        assert await bot.texts("!label add carol nope", **BOSS) == [
            "No label 'nope' in this community."
        ]
        assert await bot.texts("!label add nobody top fans", **BOSS) == [
            "I don't know anyone called nobody here yet."
        ]
        assert await bot.texts("!label add carol top fans 0m", **BOSS) == [
            "A duration is more than 0 and at most 10 years."
        ]
        assert await bot.texts("!label list", user="carol") == ["Labels: Top Fans."]
        assert await bot.texts("!label remove carol Top Fans", **BOSS) == [
            "carol no longer has the label Top Fans."
        ]
        assert await bot.texts("!label remove carol Top Fans", **BOSS) == [
            "carol does not have the label Top Fans."
        ]
        assert await bot.texts("!label show carol", user="carol") == ["carol has no labels here."]
        assert await bot.texts("!label delete top fans", **BOSS) == ["Label Top Fans deleted."]
        assert await bot.texts("!label list", user="carol") == ["This community has no labels yet."]


async def test_a_label_can_grant_labels_manage(
    stack_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "waddlebot.kernel.security.rbac")  # allowed chat: DEBUG
    async with label_bot(stack_settings) as bot:
        community = await community_of(bot)
        bob = await chatter(bot, "bob")
        await chatter(bot, "carol")
        await set_role(bot, community, bob, "member")
        await bot.texts("!label create fan", **BOSS)
        with structlog.testing.capture_logs() as logs:
            refused = await bot.texts("!label add carol fan", user="bob")
        assert refused == ["@bob !label add needs the labels.manage permission here."]
        [decision] = [
            e for e in logs if e.get("category") == "AUTHZ" and e["action"] == "!label add"
        ]
        assert (decision["result"], decision["user"], decision["permission"]) == (
            "denied",
            bob,
            "labels.manage",
        )
        # the owner makes a "trusted" label that grants labels.manage, and gives it to bob
        await bot.texts("!label create trusted", **BOSS)
        patched = await bot.client.patch(
            f"{API}/{community}/labels/trusted",
            json={"permissions": ["labels.manage"]},
            headers=bearer(await key_for(bot, None)),
        )
        assert patched.status_code == 200, patched.text
        assert await bot.texts("!label add bob trusted 1d", **BOSS) == [
            "bob now has the label trusted (23h 59m left)."
        ]
        with structlog.testing.capture_logs() as logs:
            allowed = await bot.texts("!label add carol fan", user="bob")
        assert allowed == ["carol now has the label fan."]
        decisions = [e for e in logs if e.get("category") == "AUTHZ"]
        assert {(e["action"], e["result"]) for e in decisions} == {
            ("!label add", "allowed"),
            ("label_apply", "allowed"),
        }
        # taking the label away takes the permission with it, at once
        assert await bot.texts("!label remove bob trusted", **BOSS) == [
            "bob no longer has the label trusted."
        ]
        assert await bot.texts("!label remove carol fan", user="bob") == [
            "@bob !label remove needs the labels.manage permission here."
        ]
