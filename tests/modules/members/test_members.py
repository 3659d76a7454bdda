"""The members module through the SDK: what it says where the host offers no member
operations, and its own permission check behind the router's."""

from __future__ import annotations

from tests.module_support import module_request
from waddlebot.kernel.contracts import ChatAction
from waddlebot.modules.members import module as members
from waddlebot.sdk.remote import RemoteHost
from waddlebot.sdk.testing import ModuleHarness


async def texts(command: str, *args: str, permissions: list[str] | None = None) -> list[str]:
    request = module_request(command, *args)
    if permissions is not None:
        request = request.model_copy(update={"user_permissions": permissions})
    response = await members.handle(request, RemoteHost())
    assert response.error is None, response.error
    return [a.text for a in response.actions if isinstance(a, ChatAction)]


async def test_outside_the_router_roles_are_not_available() -> None:
    assert await texts("role", "show") == ["Community roles are not available here."]
    assert await texts("role", "list") == ["Community roles are not available here."]


async def test_the_module_double_checks_the_permission() -> None:
    assert await texts("role", "grant", "bob", "admin") == [
        "!role grant needs the members.manage permission."
    ]


async def test_in_the_harness() -> None:
    async with ModuleHarness(members) as bot:
        assert await bot.reply("!role show") == "You have no role here."
        assert await bot.reply("!role grant alice moderator", user="boss", role="broadcaster") == (
            "alice is now moderator here."
        )
        assert await bot.reply("!role show") == "Your role here: moderator."
        assert await bot.reply("!role list") == "Owners: boss; Admins: none; Moderators: alice."
        assert await bot.reply("!role") == "Your role here: moderator."
        assert await bot.reply("!role nonsense") == (
            "Usage: !role show [user] | !role list | !role grant <user> <role> | "
            "!role revoke <user>"
        )
