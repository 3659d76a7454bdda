"""The playground collector: chat with the bot over HTTP or in a terminal, no platform needed."""
