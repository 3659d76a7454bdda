"""What an answer must pass before it is said: the block list, mention neutralising and the
platform's length limit. Pure functions, so the rules are tested without a model."""

from __future__ import annotations

import re

from waddlebot.kernel.contracts import MESSAGE_LIMITS, Platform

ZWSP = "\u200b"
# Discord pings: @everyone/@here, <@123>, <@!123> (users), <@&123> (roles). Twitch/Slack
# "@name" and Slack's <!channel>/<!here>/<!everyone> and <@U123> are neutralised too.
MASS = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)
DISCORD_PING = re.compile(r"<@[!&]?(\d+)>")
SLACK_PING = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>|<@([UW][A-Z0-9]+)(\|[^>]*)?>")
AT_NAME = re.compile(r"(?<![\w@])@(?=\w)")
SENTENCE_END = re.compile(r"[.!?…](?:[\"')\]]*)(?=\s|$)")
MAX_BLOCK_TERM = 100


def neutralise(text: str) -> str:
    """No answer pings anyone: mass mentions, role and user pings are broken with a
    zero-width space (Discord, Slack) so they read the same but notify nobody."""
    text = DISCORD_PING.sub(lambda m: f"<@{ZWSP}{m.group(0)[2:]}", text)
    text = SLACK_PING.sub(lambda m: f"<{ZWSP}{m.group(0)[1:]}", text)
    text = MASS.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)
    return AT_NAME.sub(f"@{ZWSP}", text)


def blocked(text: str, terms: list[str]) -> str | None:
    """The first block-list term found in ``text`` as a whole word (case-insensitive), else
    None. Terms are plain text, never patterns: a term is escaped before matching, so
    admins cannot write a pathological regex."""
    for term in terms:
        if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE):
            return term
    return None


def check_block_list(terms: list[str]) -> list[str]:
    """Trimmed, de-duplicated terms (each 1–100 characters)."""
    out: list[str] = []
    for raw in terms:
        term = " ".join(raw.split())
        if not term:
            continue
        if len(term) > MAX_BLOCK_TERM:
            raise ValueError(f"block-list terms are at most {MAX_BLOCK_TERM} characters")
        if term.lower() not in (t.lower() for t in out):
            out.append(term)
    return out


def limit_for(platform: Platform, max_chars: int, prefix: int = 0) -> int:
    """The room an answer has: the community's maximum within the platform's message limit
    (``prefix``: characters the reply adds before it, e.g. ``@name ``)."""
    return max(20, min(max_chars, MESSAGE_LIMITS.get(platform, 500) - prefix))


def cut(text: str, limit: int) -> str:
    """``text`` in one line of at most ``limit`` characters, cut after the last whole
    sentence that fits (else at a word, marked with …)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 3:
        return head[: ends[-1]].rstrip()
    word = head[: limit - 1].rsplit(" ", 1)[0] if " " in head else head[: limit - 1]
    return word.rstrip(" ,;:") + "…"
