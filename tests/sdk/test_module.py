"""The SDK's building blocks: typed arguments, subcommands, errors, config, storage, manifest."""

from __future__ import annotations

import pytest

from tests.module_support import module_request
from waddlebot.kernel.contracts import ChatAction, EventType, Manifest, Role
from waddlebot.sdk import CommandError, Context, Module
from waddlebot.sdk.remote import RemoteHost

shop = Module(
    "shop",
    version="2.1.0",
    description="A tiny shop.",
    categories=["economy"],
    config_schema={
        "type": "object",
        "properties": {"currency": {"type": "string", "default": "coins"}},
    },
)


@shop.command("price", description="Price of an item.")
async def price(ctx: Context, item: str, amount: int = 1, gift: bool = False) -> None:
    ctx.reply(f"{amount} {item} cost {amount * 3} {ctx.config['currency']}{' (gift)' * gift}")


@shop.command("say")
async def say(ctx: Context, *words: str) -> None:
    ctx.reply(" ".join(words) or "…")


@shop.subcommand("stock", "add", min_role=Role.moderator)
async def stock_add(ctx: Context, item: str, count: int) -> None:
    total = await ctx.storage.incr(f"stock:{item}", count)
    ctx.reply(f"{item}: {total}")


@shop.subcommand("stock", "show")
async def stock_show(ctx: Context, item: str) -> None:
    ctx.reply(f"{item}: {await ctx.storage.get(f'stock:{item}', 0)}")


@shop.command("fail")
async def fail(ctx: Context) -> None:
    raise CommandError("Out of stock, sorry.")


@shop.on_event(EventType.raid)
async def raided(ctx: Context) -> None:
    ctx.reply(f"welcome raiders from {ctx.event.data.get('from', '?')}")


async def run(host: RemoteHost, command: str, *args: str, **kw: object) -> list[str]:
    request = module_request(command, *args, **kw)  # type: ignore[arg-type]
    response = await shop.handle(request, host)
    assert response.error is None, response.error
    return [a.text for a in response.actions if isinstance(a, ChatAction)]


async def test_typed_arguments_are_converted_and_defaulted() -> None:
    host = RemoteHost()
    assert await run(host, "price", "apple") == ["1 apple cost 3 coins"]
    assert await run(host, "price", "apple", "4", "yes") == ["4 apple cost 12 coins (gift)"]
    assert await run(host, "say", "hello", "there") == ["hello there"]


async def test_bad_arguments_answer_with_the_usage() -> None:
    host = RemoteHost()
    assert await run(host, "price") == ["Usage: !price <item> [amount] [gift]"]
    assert await run(host, "price", "apple", "lots") == [
        "amount must be a whole number. Usage: !price <item> [amount] [gift]"
    ]
    assert await run(host, "price", "a", "1", "maybe") == [
        "gift must be yes or no. Usage: !price <item> [amount] [gift]"
    ]
    assert await run(host, "price", "a", "1", "no", "extra") == [
        "Too many arguments. Usage: !price <item> [amount] [gift]"
    ]


async def test_subcommands_route_check_their_role_and_list_themselves() -> None:
    host = RemoteHost()
    assert await run(host, "stock", "add", "pear", "2") == [
        "!stock add is for moderators and above."
    ]
    assert await run(host, "stock") == ["Usage: !stock <add|show> (you can use: show)"]
    assert await run(host, "stock", "show", "pear") == ["pear: 0"]


async def test_storage_is_scoped_to_the_community() -> None:
    host = RemoteHost()
    mod = module_request("stock", "add", "pear", "2")
    assert mod.user is not None
    mod.user.role = Role.moderator
    response = await shop.handle(mod, host)
    assert [a.text for a in response.actions if isinstance(a, ChatAction)] == ["pear: 2"]
    assert await run(host, "stock", "show", "pear") == ["pear: 2"]
    assert await run(host, "stock", "show", "pear", community="c2") == ["pear: 0"]


async def test_command_errors_become_the_reply_and_config_overrides_defaults() -> None:
    host = RemoteHost()
    assert await run(host, "fail") == ["Out of stock, sorry."]
    request = module_request("price", "apple").model_copy(update={"config": {"currency": "gems"}})
    response = await shop.handle(request, host)
    assert response.actions == [ChatAction(text="1 apple cost 3 gems")]


async def test_unknown_commands_and_events_are_errors() -> None:
    response = await shop.handle(module_request("nope"), RemoteHost())
    assert response.error == "shop has no command 'nope'"
    follow = module_request(None)
    follow.event.type = EventType.follow
    assert (await shop.handle(follow, RemoteHost())).error is not None


def test_manifest_describes_the_module() -> None:
    manifest = shop.manifest(runtime="lambda", endpoint="shop-fn")
    assert isinstance(manifest, Manifest)
    assert [(c.prefix, c.trigger) for c in manifest.commands] == [
        ("#", "price"),
        ("#", "say"),
        ("#", "stock"),
        ("#", "fail"),
    ]
    stock = next(c for c in manifest.commands if c.trigger == "stock")
    assert stock.subcommands == ["add", "show"]
    assert manifest.commands[0].usage == "#price <item> [amount] [gift]"
    assert manifest.events == [EventType.raid]
    assert manifest.model_dump(mode="json")["commands"][0]["min_role"] == "everyone"


def test_registration_mistakes_fail_loudly() -> None:
    module = Module("x")

    @module.command("a")
    async def a(ctx: Context) -> None: ...

    with pytest.raises(ValueError, match="already has a command"):
        module.command("A")(a)
    with pytest.raises(TypeError, match="unsupported argument type"):

        @module.command("b")
        async def b(ctx: Context, when: list[str]) -> None: ...
