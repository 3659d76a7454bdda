"""The module SDK: how every module, built-in or third-party, is written.

from waddlebot.sdk import Context, Module

module = Module("greeter", version="1.0.0", description="Says hello")

@module.command("hello", description="Greets someone")
async def hello(ctx: Context, name: str | None = None) -> None:
    ctx.reply(f"Hello {name or ctx.user_name}!")

Test it with :class:`waddlebot.sdk.testing.ModuleHarness`; serve it with
``waddlebot module serve greeter:module`` or the adapters in :mod:`waddlebot.sdk.adapters`.
"""

from waddlebot.kernel.contracts import ScheduledJob
from waddlebot.sdk.context import Context, Host
from waddlebot.sdk.errors import CommandError, UsageError, offered
from waddlebot.sdk.module import CommandSpec, Module, SubcommandSpec
from waddlebot.sdk.storage import ModuleStorage

__all__ = [
    "CommandError",
    "CommandSpec",
    "Context",
    "Host",
    "Module",
    "ModuleStorage",
    "ScheduledJob",
    "SubcommandSpec",
    "UsageError",
    "offered",
]
