"""``@module.dynamic_commands``: triggers a module answers without declaring them."""

from __future__ import annotations

from tests.module_support import module_request
from waddlebot.kernel.contracts import ChatAction
from waddlebot.modules.custom_commands import module as custom_commands
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.remote import RemoteHost


async def test_undeclared_triggers_reach_the_dynamic_handler() -> None:
    module = Module("data")

    @module.command("fixed")
    async def fixed(ctx: Context) -> None:
        ctx.reply("declared")

    host = RemoteHost()
    without = await module.handle(module_request("anything"), host)
    assert without.error == "data has no command 'anything'"

    @module.dynamic_commands
    async def answer(ctx: Context) -> None:
        if ctx.command == "nope":
            raise CommandError("no such thing")
        ctx.reply(f"{ctx.command}: {' '.join(ctx.args)}")

    texts = {}
    for trigger in ("fixed", "anything", "nope"):
        response = await module.handle(module_request(trigger, "a", "b"), host)
        texts[trigger] = [a.text for a in response.actions if isinstance(a, ChatAction)]
    assert texts == {
        "fixed": ["declared"],
        "anything": ["anything: a b"],
        "nope": ["no such thing"],
    }


async def test_custom_commands_outside_the_router() -> None:
    response = await custom_commands.handle(module_request("discord"), RemoteHost())
    assert [a.text for a in response.actions if isinstance(a, ChatAction)] == [
        "Custom commands are not available here."
    ]
