"""WaddleBot: a self-hosted, multi-platform community bot."""

from waddlebot.kernel.lean_imports import import_everywhere_libraries

__version__ = "0.1.0"

import_everywhere_libraries()
