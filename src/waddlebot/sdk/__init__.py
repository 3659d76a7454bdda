"""The module SDK: how every module, built-in or third-party, is written.

from waddlebot.sdk import Context, Module

module = Module("greeter", version="1.0.0", description="Says hello")

@module.command("hello", usage="!hello [name]", description="Greets someone")
async def hello(ctx: Context) -> None:
    ctx.reply(f"Hello {ctx.args[0] if ctx.args else ctx.user_name}!")
"""

from waddlebot.sdk.context import Context, Host
from waddlebot.sdk.errors import CommandError
from waddlebot.sdk.module import CommandSpec, Module

__all__ = ["CommandError", "CommandSpec", "Context", "Host", "Module"]
