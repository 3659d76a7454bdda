from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from waddlebot.router.parser import ParsedCommand, parse_command, split_args


def test_bang_and_hash_commands() -> None:
    assert parse_command("!ping") == ParsedCommand("!", "ping", [])
    assert parse_command("  #Weather  Paris  ") == ParsedCommand("#", "weather", ["Paris"])


def test_plain_chat_is_not_a_command() -> None:
    for text in ("", "!", "#", "hello !ping", "!!ping", "! ping", "#!x", "   "):
        assert parse_command(text) is None, text


def test_quoted_arguments_stay_together() -> None:
    parsed = parse_command("!so \"Big Streamer\" 'and friends' now")
    assert parsed is not None
    assert parsed.args == ["Big Streamer", "and friends", "now"]


def test_apostrophes_inside_words_are_not_quotes() -> None:
    assert split_args("don't stop 'me now'") == ["don't", "stop", "me now"]


def test_unbalanced_quotes_are_kept_literally() -> None:
    assert split_args('"open and never closed') == ['"open', "and", "never", "closed"]
    assert split_args("it's") == ["it's"]


def test_quote_closes_only_before_whitespace() -> None:
    assert split_args('"a"b c"') == ['a"b c']


def test_overlong_trigger_is_not_a_command() -> None:
    assert parse_command("!" + "x" * 101) is None


@given(st.text(max_size=300))
def test_never_raises(text: str) -> None:
    parse_command(text)
    split_args(text)


@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=["Z", "C"], blacklist_characters="\"'"),
            min_size=1,
        ),
        max_size=10,
    )
)
def test_without_quotes_it_is_whitespace_split(words: list[str]) -> None:
    assert split_args(" ".join(words)) == " ".join(words).split()
