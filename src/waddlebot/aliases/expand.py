"""Alias expansion, pure and synchronous: the router runs it per message from its in-memory
table, and the manager runs the same rules when an alias is defined.

Rules (like a shell alias):

- ``$1``…``$9`` are the caller's arguments, ``$@`` all of them, ``$user`` the caller's name;
  a missing argument expands to nothing;
- a target that uses none of ``$1``…``$9``/``$@`` gets the caller's arguments appended;
- an argument with spaces that stands as a whole word is re-quoted, so ``!so "big bird"``
  stays one argument after expansion;
- a name a command answers is never an alias (commands win), and an alias whose target is
  another alias is followed up to :data:`MAX_DEPTH` aliases deep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from waddlebot.kernel.contracts.v1 import MAX_TEXT
from waddlebot.router.parser import ParsedCommand, parse_command

MAX_DEPTH = 5  # aliases followed for one message, the first included
MAX_TARGET = 500
NAME = re.compile(r"^\w[\w-]{0,49}$")
REFERENCE = re.compile(r"\$(?:([1-9])|(@)|(user)(?![\w-]))")

# (prefix, trigger) → True when a command (enabled or not) answers it in the community
Answers = Callable[[str, str], bool]


class AliasRefused(Exception):
    """An alias cannot be defined or expanded; the message is meant for chat."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Expansion:
    """What a message became: the text as if typed, its parsed command, the aliases taken."""

    text: str
    parsed: ParsedCommand
    chain: tuple[str, ...]


def normalise_name(name: str) -> str:
    """``!So`` → ``so``; :class:`AliasRefused` unless letters, digits, ``_`` and ``-``."""
    clean = name.strip().lower().removeprefix("!")
    if not NAME.match(clean):
        raise AliasRefused(
            "An alias name is 1-50 letters, digits, _ or -, e.g. !alias so='!shoutout $1'."
        )
    return clean


def check_target(target: str) -> ParsedCommand:
    """The command a target runs; :class:`AliasRefused` unless it is ``!name …``/``#name …``."""
    if len(target) > MAX_TARGET:
        raise AliasRefused(f"An alias target is at most {MAX_TARGET} characters.")
    parsed = parse_command(target)
    if parsed is None or "$" in parsed.trigger:
        raise AliasRefused("An alias must point to a command, e.g. !alias so='!shoutout $1'.")
    return parsed


def takes_arguments(target: str) -> bool:
    """True when ``target`` places the caller's arguments itself (``$1``…``$9`` or ``$@``)."""
    return any(m.group(1) or m.group(2) for m in REFERENCE.finditer(target))


def expand(target: str, args: Sequence[str], user: str) -> str:
    """``target`` with the references replaced (or the arguments appended, when it has none)."""

    def whole_word(match: re.Match[str]) -> bool:
        before = match.string[match.start() - 1] if match.start() > 0 else " "
        after = match.string[match.end()] if match.end() < len(match.string) else " "
        return before.isspace() and after.isspace()

    def substitute(match: re.Match[str]) -> str:
        if match.group(3):
            return user
        quote = _quote if whole_word(match) else str
        if match.group(2):
            return " ".join(quote(arg) for arg in args)
        index = int(match.group(1)) - 1
        return quote(args[index]) if index < len(args) else ""

    text = REFERENCE.sub(substitute, target)
    if args and not takes_arguments(target):
        text = f"{text} {' '.join(_quote(arg) for arg in args)}"
    return text


def resolve(
    parsed: ParsedCommand, aliases: Mapping[str, str], answers: Answers, user: str
) -> Expansion | None:
    """Follow ``parsed`` through the community's aliases; None when it names no alias.

    :class:`AliasRefused` for a chain deeper than :data:`MAX_DEPTH` or a loop (neither can be
    defined, but a target's command may have been removed or installed since).
    """
    if not _is_alias(parsed, aliases, answers):
        return None
    chain: list[str] = []
    text = ""
    while _is_alias(parsed, aliases, answers):
        if parsed.trigger in chain:
            raise AliasRefused(f"!{chain[0]} loops back to !{parsed.trigger}.")
        if len(chain) == MAX_DEPTH:
            raise AliasRefused(f"!{chain[0]} goes through more than {MAX_DEPTH} aliases.")
        chain.append(parsed.trigger)
        text = expand(aliases[parsed.trigger], parsed.args, user)
        if len(text) > MAX_TEXT:
            raise AliasRefused(f"!{chain[0]} expands to more than {MAX_TEXT} characters.")
        found = parse_command(text)
        if found is None:
            raise AliasRefused(f"!{chain[-1]} does not expand to a command.")
        parsed = found
    return Expansion(text=text, parsed=parsed, chain=tuple(chain))


def check_graph(aliases: Mapping[str, str], answers: Answers) -> None:
    """Refuse a set of aliases with a loop or a chain deeper than :data:`MAX_DEPTH`.

    Run with the change applied, over all the community's aliases, so redefining the end of
    a chain cannot make an earlier alias too deep.
    """
    for name in sorted(aliases):
        seen = [name]
        current = name
        while True:
            parsed = parse_command(aliases[current])
            if parsed is None or not _is_alias(parsed, aliases, answers):
                break
            current = parsed.trigger
            if current in seen:
                path = " → ".join(f"!{n}" for n in [*seen[seen.index(current) :], current])
                raise AliasRefused(f"That would make a loop: {path}.")
            seen.append(current)
            if len(seen) > MAX_DEPTH:
                raise AliasRefused(
                    f"That would chain more than {MAX_DEPTH} aliases: "
                    + " → ".join(f"!{n}" for n in seen)
                    + "."
                )


def final_target(target: str, aliases: Mapping[str, str], answers: Answers) -> ParsedCommand | None:
    """The command ``target`` ends at through other aliases (for listings), or None."""
    parsed = parse_command(target)
    for _ in range(MAX_DEPTH):
        if parsed is None or not _is_alias(parsed, aliases, answers):
            return parsed
        parsed = parse_command(aliases[parsed.trigger])
    return None


def _is_alias(parsed: ParsedCommand, aliases: Mapping[str, str], answers: Answers) -> bool:
    return (
        parsed.prefix == "!"
        and parsed.trigger in aliases
        and not answers(parsed.prefix, parsed.trigger)
    )


def _quote(arg: str) -> str:
    """``arg`` as one word for the parser again."""
    if arg and not any(c.isspace() for c in arg) and arg[0] not in "\"'":
        return arg
    return f"'{arg}'" if '"' in arg else f'"{arg}"'
