"""``!inv`` through the real pipeline (playground → router → module → reply): catalogue,
give/take/send with stock, quoting, labels as categories, refusals, permissions, history."""

from __future__ import annotations

from waddlebot.modules.inventory import module as inventory
from waddlebot.modules.inventory.manager import InventoryManager
from waddlebot.modules.labels import module as labels
from waddlebot.sdk.testing import ModuleHarness

OWNER = {"user": "streamer", "role": "broadcaster"}


async def test_catalogue_give_take_send_and_stock() -> None:
    async with ModuleHarness(inventory) as bot:
        await bot.texts("hi", user="bob")  # the bot knows bob now
        assert await bot.reply("!inv items") == (
            "There are no items here yet. Managers add them with !inv add ITEM."
        )
        assert await bot.reply('!inv add "Golden Egg" 3 A shiny egg', **OWNER) == (
            "Added Golden Egg (stock 3)."
        )
        assert await bot.reply("!inv add Coin", **OWNER) == "Added Coin (unlimited)."
        assert await bot.reply("!inv add coin", **OWNER) == (
            "There is already an item called coin here."
        )
        assert await bot.reply("!inv items") == "Items: Coin; Golden Egg (3/3 left)"

        assert await bot.reply('!inv give @alice "golden egg" 2', **OWNER) == (
            "Gave 2 Golden Egg to alice; they have 2. 1 left in stock."
        )
        # unquoted names work where the item ends the command
        assert await bot.reply("!inv give alice Golden Egg", **OWNER) == (
            "Gave 1 Golden Egg to alice; they have 3. 0 left in stock."
        )
        assert await bot.reply("!inv give @bob Golden Egg", **OWNER) == (
            "Golden Egg is out of stock."
        )
        assert await bot.reply("!inv give @bob Coin 50", **OWNER) == (
            "Gave 50 Coin to bob; they have 50."
        )
        assert await bot.reply("!inv") == "Your items: Golden Egg ×3"
        assert await bot.reply("!inv @bob") == "bob has Coin ×50"
        assert await bot.reply("!inv @streamer") == "streamer has no items yet."

        # a viewer hands their own items on; never more than they hold
        assert await bot.reply('!inv send @bob "Golden Egg" 2') == (
            "Sent 2 Golden Egg to bob; you have 1 left."
        )
        assert await bot.reply("!inv send @bob Golden Egg 5") == (
            "You have only 1 Golden Egg, not 5."
        )
        assert await bot.reply("!inv send @bob Coin", user="carol") == (
            "You have only 0 Coin, not 1."
        )
        assert await bot.reply("!inv send @alice Coin 1") == "You cannot send items to yourself."
        assert await bot.reply("!inv @bob") == "bob has Coin ×50, Golden Egg ×2"

        # taking puts units back into stock
        assert await bot.reply("!inv take @bob Golden Egg 2", **OWNER) == (
            "Took 2 Golden Egg from bob; they have 0 left."
        )
        assert await bot.reply("!inv take @bob Golden Egg", **OWNER) == (
            "bob has only 0 Golden Egg, not 1."
        )
        assert await bot.reply("!inv items") == "Items: Coin; Golden Egg (2/3 left)"

        community = await bot.community_id()
        entries = await InventoryManager(bot.runtime.db).history(community)
        assert [(e.action, e.item, e.quantity) for e in entries][:4] == [
            ("take", "Golden Egg", 2),
            ("send", "Golden Egg", 2),
            ("give", "Coin", 50),
            ("give", "Golden Egg", 1),
        ]

        assert await bot.reply("!inv remove golden egg", **OWNER) == (
            "Removed Golden Egg and the 1 unit people held."
        )
        assert await bot.reply("!inv") == "You have no items yet."


async def test_bad_input_and_permissions() -> None:
    async with ModuleHarness(inventory) as bot:
        await bot.reply("!inv add Coin", **OWNER)
        assert await bot.reply("!inv give @bob Coin") == (
            "@alice !inv give needs the inventory.manage permission here."
        )
        assert await bot.reply("!inv add Gem") == (
            "@alice !inv add needs the inventory.manage permission here."
        )
        assert await bot.reply("!inv give @nobody Coin", **OWNER) == (
            "I don't know nobody here yet."
        )
        await bot.texts("hi", user="bob")
        assert await bot.reply("!inv give @bob Gem", **OWNER) == (
            "There is no item called Gem here."
        )
        assert await bot.reply("!inv give @bob Coin 0", **OWNER) == (
            "The quantity must be 1 to 1,000,000."
        )
        assert await bot.reply("!inv give @bob Coin -4", **OWNER) == (
            "The quantity must be 1 to 1,000,000."
        )
        assert (await bot.reply("!inv give @bob", **OWNER)).startswith(
            "Usage: !inv give @user ITEM [N]"
        )
        assert (await bot.reply("!inv a b")).startswith("Usage: !inv [@user]")
        assert (await bot.reply("!inv add", **OWNER)).startswith("Usage: !inv add ITEM")
        assert await bot.reply("!inv add @x", **OWNER) == "An item's name cannot start with @."
        assert await bot.reply(f"!inv add {'x' * 101}", **OWNER) == (
            "An item's name is at most 100 characters."
        )
        assert await bot.reply("!inv remove Gem", **OWNER) == "There is no item called Gem here."


async def test_labels_are_item_categories() -> None:
    async with ModuleHarness(inventory, labels) as bot:
        await bot.reply('!inv add "Golden Egg" 5', **OWNER)
        await bot.reply("!inv add Coin", **OWNER)
        assert await bot.reply("!inv label Golden Egg rare", **OWNER) == (
            "There is no label rare here."
        )
        await bot.reply("!label create rare", **OWNER)
        assert await bot.reply("!inv label Golden Egg rare", **OWNER) == (
            "Golden Egg is now labelled rare."
        )
        assert await bot.reply("!inv items") == "Items: Coin; Golden Egg (5/5 left) [rare]"
        assert await bot.reply("!inv items rare") == "Items: Golden Egg (5/5 left) [rare]"
        assert await bot.reply("!inv items common") == "No items carry the label common."
        assert await bot.reply('!inv unlabel "Golden Egg" rare', **OWNER) == (
            "Golden Egg no longer carries rare."
        )
        assert await bot.reply("!inv items rare") == "No items carry the label rare."
        assert await bot.reply("!inv label Coin rare") == (
            "@alice !inv label needs the inventory.manage permission here."
        )
