"""WaddleBot: a self-hosted, multi-platform community bot."""

__version__ = "0.1.0"
