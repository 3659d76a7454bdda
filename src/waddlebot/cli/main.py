"""``waddlebot``: run everything (``up``), one service (``serve``), migrate, backup, chat, keys."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from pydantic import ValidationError
from typer.core import TyperGroup

from waddlebot import __version__
from waddlebot.cli.preflight import SETTINGS_EXIT, check_split, listen
from waddlebot.kernel.observability.logging import configure_logging
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.settings_check import (
    SettingInvalid,
    explain,
    settings_model,
    usable_data_dir,
)

# Imported before logging is configured: alembic logs its plugins' set-up (INFO) on import.
from waddlebot.kernel.storage import Database
from waddlebot.stats.cli import stats

# Command groups defined beside what they manage, as ``module:attribute``, in help order. They
# are imported when used: importing all of them (every module's package, its API and models)
# was most of each ``waddlebot`` process's start-up time, whatever the command.
GROUPS = {
    "slack": "waddlebot.collectors.slack.cli:slack_app",
    "discord": "waddlebot.collectors.discord.cli:discord_app",
    "module": "waddlebot.cli.module:module_app",
    "overlays": "waddlebot.overlays.cli:overlays_app",
    "twitch": "waddlebot.collectors.twitch.cli:twitch_app",
    "commands": "waddlebot.custom_commands.cli:commands_app",
    "calendar": "waddlebot.modules.calendar.cli:calendar_app",
    "spotify": "waddlebot.modules.music.spotify_cli:spotify_app",
    "quotes": "waddlebot.modules.memories.cli:quotes_app",
    "gateway": "waddlebot.gateway.cli:gateway_app",
    "coordination": "waddlebot.kernel.coordination.cli:coordination_app",
}


def group(name: str) -> typer.Typer:
    """The Typer app of the command group ``name`` (imported on first use)."""
    module, attribute = GROUPS[name].split(":")
    sub_app: typer.Typer = getattr(importlib.import_module(module), attribute)
    return sub_app


class _Commands(MutableMapping[str, Any]):
    """A click group's commands where the groups of ``GROUPS`` are built on first lookup (help
    looks every one up; a typo's suggestions need only the names)."""

    def __init__(self, eager: MutableMapping[str, Any]) -> None:
        self._commands = dict(eager)
        self._names = [*eager, *(name for name in GROUPS if name not in eager)]

    def __getitem__(self, name: str) -> Any:
        if name not in self._commands:
            if name not in self._names:
                raise KeyError(name)
            built = typer.main.get_group(group(name))
            built.name = name
            self._commands[name] = built
        return self._commands[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._commands[name] = command
        if name not in self._names:
            self._names.append(name)

    def __delitem__(self, name: str) -> None:
        if name not in self._names:
            raise KeyError(name)
        self._names.remove(name)
        self._commands.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


class _LazyGroup(TyperGroup):
    """The top-level click group, with the command groups of ``GROUPS`` loaded lazily."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)


class _Cli(typer.Typer):
    """The ``waddlebot`` app: a settings problem in any command, however deep, ends in one line
    per bad setting on stderr and exit status 2, not a traceback (the one place that does it)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as error:
            if settings_model(error.title) is None:
                raise
            problem = explain(error)
        except SettingInvalid as invalid:
            problem = invalid
        for line in problem.lines:
            typer.echo(line, err=True)
        sys.exit(SETTINGS_EXIT)


app = _Cli(
    name="waddlebot",
    help="WaddleBot: a self-hosted community bot for Twitch, Discord and Slack.",
    no_args_is_help=True,
    add_completion=False,
    cls=_LazyGroup,
)
admin = typer.Typer(help="Operator tasks: users, API keys, roles, secrets.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.command("stats")(stats)

HostOption = Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise explain(error, Settings, options={name: f"--{name}" for name in overrides}) from None
    if settings.uses_data_dir:
        usable_data_dir(settings.data_dir)
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _serve(settings: Settings, services: list[str] | None, banner: str = "") -> None:
    """Build the services (their settings are checked here), bind the port, then say so and
    start: every mistake found so far stops before the banner and before any service runs."""
    import uvicorn

    from waddlebot.app import create_app

    application = create_app(settings, services, freeze_heap=True)
    sock = listen(settings.host, settings.port)
    if banner:
        typer.echo(banner)
    # No permessage-deflate: overlay frames are small JSON, and compressing the same frame
    # once per socket was half the server's CPU in a 1,000-socket broadcast (benchmarks/
    # overlay_fanout.py); browsers and OBS connect the same without it.
    config = uvicorn.Config(
        application, log_config=None, access_log=False, ws_per_message_deflate=False
    )
    uvicorn.Server(config).run(sockets=[sock])


@app.command()
def up(host: HostOption = None, port: PortOption = None) -> None:
    """Start every service in one process (embedded: SQLite and in-memory queues by default)."""
    settings = _settings(host, port)
    url = f"http://{settings.host}:{settings.port}"
    banner = (
        f"WaddleBot {__version__} is starting on {url}\n"
        f"  data directory : {settings.data_dir.resolve()}\n"
        f"  database       : {_redact(settings.resolved_database_url)}\n"
        f"  cache/queues   : {'redis' if settings.redis_url else 'in-memory'}\n"
        "Next:\n"
        "  waddlebot chat                          chat with the bot in this terminal\n"
        "  waddlebot admin create-user --email E --superuser   your first login\n"
        "  waddlebot admin create-api-key --name me --scope admin   a key for scripts\n"
        f"  {url}/docs                 the API, {url}/metrics the metrics"
    )
    _serve(settings, None, banner)


@app.command()
def serve(
    service: Annotated[
        str,
        typer.Argument(
            help="router, playground, identity, accounts, communities, labels, marketplace, "
            "twitch, slack, discord, discord-gateway, overlays, portal, kong-broker"
        ),
    ],
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Run one service (distributed mode); point the others at it with WADDLEBOT_<NAME>_URL."""
    from waddlebot.app import SERVICES

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")
    settings = _settings(host, port)
    check_split(settings, service)
    _serve(settings, [service])


async def _migrate(settings: Settings) -> None:
    """Prepare the data directory (secret key), bring the schema up to date and make the
    object store ready (its directory, or its S3 bucket when missing)."""
    from waddlebot.kernel.objects import open_object_store

    _ = settings.resolved_secret_key

    db = Database(settings.resolved_database_url)
    try:
        await db.migrate()
    finally:
        await db.close()
    objects = open_object_store(settings)
    try:
        await objects.prepare()
    finally:
        await objects.close()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version and make the object store
    ready (its directory, or its S3 bucket when missing)."""
    from waddlebot.kernel.errors import DependencyUnavailable

    settings = _settings()
    try:
        asyncio.run(_migrate(settings))
    except DependencyUnavailable as error:  # the object store: one line, not a traceback
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"database is up to date: {_redact(settings.resolved_database_url)}")
    store = f"s3://{settings.s3_bucket}" if settings.s3_bucket else "the data directory"
    typer.echo(f"object store ready: {store}")


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup.")],
    upload: Annotated[
        bool, typer.Option("--upload", help="Also keep it in the object store (backups/…).")
    ] = False,
) -> None:
    """Back up the database into FILE (SQLite online backup, or pg_dump -Fc); secrets stay
    sealed, so restoring needs the same WADDLEBOT_SECRET_KEY / WADDLEBOT_ENCRYPTION_KEYS."""
    from waddlebot.cli import backup as backups
    from waddlebot.cli.backup import BackupError

    try:
        settings = _settings()
        typer.echo(backups.backup(settings, file))
        if upload:
            typer.echo(f"uploaded to the object store as {backups.upload(settings, file)}")
    except BackupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `waddlebot backup`.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace a database that already holds data.")
    ] = False,
    from_store: Annotated[
        str | None,
        typer.Option(
            "--from-store", help="First download this key (see `waddlebot backups`) into FILE."
        ),
    ] = None,
) -> None:
    """Restore the database from FILE (stop every waddlebot process using it first); needs
    the secret key the backup was made under to read its sealed secrets."""
    from waddlebot.cli import backup as backups
    from waddlebot.cli.backup import BackupError

    try:
        settings = _settings()
        if from_store:
            backups.download(settings, from_store, file)
            typer.echo(f"downloaded {from_store} to {file}")
        typer.echo(backups.restore(settings, file, overwrite=yes))
    except BackupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


@app.command("backups")
def list_backups() -> None:
    """The backups kept in the object store (`backup --upload`), oldest first."""
    from waddlebot.cli.backup import BackupError, stored

    try:
        found = stored(_settings())
    except BackupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    for item in found:
        typer.echo(f"{item.key}  {item.size} bytes  {item.modified:%Y-%m-%d %H:%M:%S} UTC")
    if not found:
        typer.echo("no backups in the object store")


@app.command()
def chat(
    user: Annotated[str, typer.Option(help="Who you chat as.")] = "you",
    role: Annotated[
        str, typer.Option(help="everyone | subscriber | vip | moderator | broadcaster")
    ] = "everyone",
    channel: Annotated[str, typer.Option(help="Playground channel to chat in.")] = "lobby",
    url: Annotated[
        str | None,
        typer.Option(
            help="A running WaddleBot; default: the configured host/port if it answers, "
            "otherwise an embedded instance started for this chat."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="WADDLEBOT_API_KEY",
            help="An admin key for a WaddleBot elsewhere; default: sign in with this "
            "installation's secret key.",
        ),
    ] = None,
) -> None:
    """Chat with the bot in this terminal as a playground user (!ping, !help, !commands)."""
    from waddlebot.cli.chat import run_chat
    from waddlebot.kernel.contracts import Role

    try:
        Role.parse(role)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    settings = _settings()
    settings.log_level = "WARNING"
    configure_logging("WARNING", settings.log_format)
    raise typer.Exit(
        asyncio.run(
            run_chat(settings, user=user, role=role, channel=channel, url=url, api_key=api_key)
        )
    )


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"waddlebot {__version__}")


@app.command()
def contracts() -> None:
    """Print the JSON Schema of every v1 contract."""
    from waddlebot.kernel.contracts.schema import json_schemas

    typer.echo(json.dumps(json_schemas(), indent=2))


@admin.command("create-api-key")
def create_api_key(
    name: Annotated[str, typer.Option(help="What the key is for.")],
    scope: Annotated[
        list[str],
        typer.Option(help="Scope to grant; repeat for more (admin = all; typos are refused)."),
    ],
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Expiry in days.")] = None,
    user: Annotated[
        str | None,
        typer.Option(help="Owner: a user or service account (id, e-mail or unique name)."),
    ] = None,
) -> None:
    """Create an API key. It is printed once; only its hash is stored."""
    from waddlebot.accounts.cli import add_api_key
    from waddlebot.accounts.manager import AccountError
    from waddlebot.kernel.errors import Refusal
    from waddlebot.kernel.security.api_keys import ApiKeyLimitReached

    settings = _settings()
    try:
        key, key_id, owner = asyncio.run(
            add_api_key(
                settings, name=name, scopes=scope, expires_in_days=expires_in_days, user=user
            )
        )
    except (AccountError, ApiKeyLimitReached, Refusal) as refusal:
        typer.echo(str(refusal), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"id: {key_id}" + (f" (owner {owner})" if owner else ""), err=True)
    typer.echo("Store this key now; it will not be shown again:", err=True)
    typer.echo(key)


@admin.command("list-api-keys")
def list_api_keys(
    user: Annotated[
        str | None,
        typer.Option(help="Whose keys (id, e-mail or unique name); default: operator keys."),
    ] = None,
) -> None:
    """List API keys (metadata only: the keys themselves are never stored)."""
    from waddlebot.accounts.cli import keys_of
    from waddlebot.accounts.manager import AccountError
    from waddlebot.kernel.errors import Refusal

    try:
        keys = asyncio.run(keys_of(_settings(), user))
    except (AccountError, Refusal) as refusal:
        typer.echo(str(refusal), err=True)
        raise typer.Exit(1) from None
    for info in keys:
        state = "active" if info.active else ("revoked" if info.revoked_at else "expired")
        expires = info.expires_at.isoformat() if info.expires_at else "never"
        used = info.last_used_at.isoformat() if info.last_used_at else "never"
        typer.echo(
            f"{info.id}  {info.prefix}…  {info.name}  scopes={','.join(info.scopes)}  "
            f"{state}  expires={expires}  last_used={used}"
        )


@admin.command("create-user")
def create_user(
    email: Annotated[str, typer.Option(help="Login e-mail address.")],
    display_name: Annotated[
        str | None, typer.Option(help="Name shown (default: from e-mail).")
    ] = None,
    superuser: Annotated[bool, typer.Option(help="May do everything, everywhere.")] = False,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input (else one is generated).")
    ] = False,
) -> None:
    """Create a person who can log in; without --password-stdin a password is printed once."""
    import sys

    from waddlebot.accounts.cli import add_user, generated_password
    from waddlebot.accounts.manager import AccountError
    from waddlebot.kernel.security.passwords import WeakPassword

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else generated_password()
    try:
        user = asyncio.run(
            add_user(
                _settings(),
                email=email,
                password=password,
                display_name=display_name,
                superuser=superuser,
            )
        )
    except (AccountError, WeakPassword) as refusal:
        typer.echo(str(refusal), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {'superuser' if superuser else 'user'} {user.email} (id {user.id})")
    if not password_stdin:
        typer.echo("Password (store it now; it will not be shown again):", err=True)
        typer.echo(password)


@admin.command("create-service-account")
def create_service_account(
    name: Annotated[str, typer.Argument(help="What runs with it, e.g. 'twitch-collector'.")],
) -> None:
    """Create a service account (no password) to own API keys for collectors and modules."""
    from waddlebot.accounts.cli import add_service_account
    from waddlebot.accounts.manager import AccountError

    try:
        account = asyncio.run(add_service_account(_settings(), name))
    except AccountError as refusal:
        typer.echo(str(refusal), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created service account {account.display_name} (id {account.id})")
    typer.echo(
        f"give it a key: waddlebot admin create-api-key --user {account.id} --name … --scope …"
    )


@admin.command("revoke-api-key")
def revoke_api_key(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke an API key by id."""
    settings = _settings()

    async def revoke() -> bool:
        from waddlebot.kernel.backends import open_backend
        from waddlebot.kernel.security.api_keys import revoke_api_key as revoke_key
        from waddlebot.kernel.security.key_cache import VerifiedKeys

        db = Database(settings.resolved_database_url)
        # With Redis, running processes hear of it at once; otherwise their caches let the
        # key go within seconds (kernel/security/key_cache.py).
        backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
        try:
            return await revoke_key(db, key_id, keys=VerifiedKeys(backend.pubsub))
        finally:
            await backend.close()
            await db.close()

    if not asyncio.run(revoke()):
        typer.echo(f"no live key with id {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@admin.command("grant-role")
def grant_role(
    community: Annotated[str, typer.Option(help="The community's id or (unique) name.")],
    user: Annotated[str, typer.Option(help="A user id, or platform:username (twitch:alice).")],
    role: Annotated[str, typer.Option(help="owner, admin, moderator or member.")],
) -> None:
    """Give someone a community role (e.g. bootstrap an owner); the last owner still stays."""
    from waddlebot.communities.cli import UnknownUser
    from waddlebot.communities.cli import grant_role as grant
    from waddlebot.kernel.errors import Refusal

    try:
        member = asyncio.run(grant(_settings(), community, user, role))
    except (Refusal, UnknownUser) as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{member.display_name} ({member.user_id}) is now {member.role} in {community}")


@admin.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret under the newest WADDLEBOT_ENCRYPTION_KEYS key."""
    settings = _settings()

    async def rotate() -> dict[str, int]:
        from waddlebot.kernel.security.rotation import rotate_secrets as rotate_all

        db = Database(settings.resolved_database_url)
        try:
            await db.migrate()
            return await rotate_all(db, settings.secret_box)
        finally:
            await db.close()

    from waddlebot.kernel.security.secrets_box import SecretUnreadable

    try:
        counts = asyncio.run(rotate())
    except SecretUnreadable:
        typer.echo(
            "a stored secret cannot be read with the configured keys; nothing was changed "
            "(keep the old key in WADDLEBOT_ENCRYPTION_KEYS, after the new one)",
            err=True,
        )
        raise typer.Exit(1) from None
    for table_name, rows in counts.items():
        typer.echo(f"{table_name}: {rows} row(s) re-encrypted")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
