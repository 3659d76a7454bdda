"""``find_account``: names as typed, and Slack/Discord mention markup, on SQLite and PostgreSQL."""

from __future__ import annotations

from waddlebot.identity.lookup import find_account, mentioned_id
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import PlatformIdentity, User


async def _account(db: Database, platform: str, account_id: str, name: str) -> str:
    async with db.session() as session:
        user = User(display_name=name)
        session.add(user)
        await session.flush()
        session.add(
            PlatformIdentity(
                user_id=user.id, platform=platform, platform_user_id=account_id, username=name
            )
        )
    return user.id


def test_mention_markup_gives_the_account_id() -> None:
    assert mentioned_id("<@U024BE7LH>") == "U024BE7LH"
    assert mentioned_id(" <@U024BE7LH|bob> ") == "U024BE7LH"
    assert mentioned_id("<@80351110224678912>") == "80351110224678912"
    assert mentioned_id("<@!80351110224678912>") == "80351110224678912"
    for plain in ("@bob", "bob", "<@>", "<#C123>", "<@&123>", "<@U1> extra", "<@U1"):
        assert mentioned_id(plain) is None, plain


async def test_mentions_resolve_to_that_account_on_its_platform(database: Database) -> None:
    bob = await _account(database, "slack", "U0BOB", "bob")
    eve = await _account(database, "discord", "53908232506183681", "eve")
    # someone whose *name* looks like another's id must not capture the mention
    await _account(database, "slack", "U0IMPOSTER", "U0BOB")

    found = await find_account(database, "slack", "<@U0BOB>")
    assert found is not None and (found.user_id, found.username) == (bob, "bob")
    found = await find_account(database, "slack", "<@U0BOB|bob>", by_id=False)
    assert found is not None and found.user_id == bob
    for mention in ("<@53908232506183681>", "<@!53908232506183681>"):
        found = await find_account(database, "discord", mention)
        assert found is not None and found.user_id == eve

    assert await find_account(database, "discord", "<@U0BOB>") is None  # other platform
    assert await find_account(database, "slack", "<@U0NOBODY>") is None
    found = await find_account(database, "slack", "@bob")  # plain names still work
    assert found is not None and found.user_id == bob
