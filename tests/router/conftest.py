"""The marketplace's whole-bot fixtures, for router tests that need installed remote modules."""

from tests.marketplace.conftest import market, market_settings

__all__ = ["market", "market_settings"]
