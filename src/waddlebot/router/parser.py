"""Command parsing: ``!name args`` (container/in-process) and ``#name args`` (serverless).

One pass over the text, no regular expressions: quoted arguments stay together, and a quote
that never closes is kept as a literal character instead of failing the command.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIXES = frozenset("!#")
QUOTES = frozenset("\"'")
MAX_TRIGGER = 100


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    prefix: str
    trigger: str  # lowercased, without prefix
    args: list[str]


def parse_command(text: str) -> ParsedCommand | None:
    """The command in ``text``, or None when it is ordinary chat."""
    text = text.strip()
    if len(text) < 2 or text[0] not in PREFIXES or text[1].isspace():
        return None
    head, *rest = text[1:].split(maxsplit=1)
    trigger = head.lower()
    if trigger[0] in PREFIXES or len(trigger) > MAX_TRIGGER:
        return None
    return ParsedCommand(prefix=text[0], trigger=trigger, args=split_args(rest[0] if rest else ""))


def split_args(text: str) -> list[str]:
    """Split on whitespace, keeping ``"quoted words"`` and ``'quoted words'`` together.

    A quote only opens at the start of a word and only closes before whitespace or the end,
    so apostrophes inside words (``don't``) are ordinary characters.
    """
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] in QUOTES:
            close = _closing_quote(text, i)
            if close != -1:
                tokens.append(text[i + 1 : close])
                i = close + 1
                continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append(text[i:j])
        i = j
    return tokens


def _closing_quote(text: str, start: int) -> int:
    """Index of the quote closing the one at ``start``, or -1 when it is unbalanced."""
    quote, n = text[start], len(text)
    close = text.find(quote, start + 1)
    while close != -1 and close + 1 < n and not text[close + 1].isspace():
        close = text.find(quote, close + 1)
    return close
