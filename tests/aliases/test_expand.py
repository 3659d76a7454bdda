"""Alias expansion rules, pure: references, appended arguments, quoting, depth and loops."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waddlebot.aliases.expand import (
    MAX_DEPTH,
    AliasRefused,
    check_graph,
    check_target,
    expand,
    final_target,
    normalise_name,
    resolve,
)
from waddlebot.router.parser import parse_command, split_args

COMMANDS = {("!", "shoutout"), ("!", "echo"), ("#", "weather")}


def answers(prefix: str, trigger: str) -> bool:
    return (prefix, trigger) in COMMANDS


def test_references_expand() -> None:
    assert expand("!shoutout $1", ["bob", "extra"], "alice") == "!shoutout bob"
    assert expand("!echo $2 $1", ["a", "b"], "alice") == "!echo b a"
    assert expand("!echo $@", ["a", "b"], "alice") == "!echo a b"
    assert expand("!echo hi $user", ["a"], "alice") == "!echo hi alice a"
    assert expand("!echo $3", ["a"], "alice") == "!echo "
    assert expand("!echo $username $$", [], "alice") == "!echo $username $$"
    assert expand("!echo $10", ["a"], "alice") == "!echo a0"  # as in a shell: ${1}0


def test_without_references_the_arguments_are_appended() -> None:
    assert expand("!echo hello", ["a", "b"], "alice") == "!echo hello a b"
    assert expand("!echo hello", [], "alice") == "!echo hello"


def test_an_argument_with_spaces_stays_one_argument() -> None:
    text = expand("!echo $1 $2", ["big bird", "x"], "alice")
    assert split_args(text.split(maxsplit=1)[1]) == ["big bird", "x"]
    assert split_args(expand("!echo", ['say "hi" now'], "a")[6:]) == ['say "hi" now']
    # inside a word it is substituted as it is
    assert expand("!echo pre$1post", ["x y"], "a") == "!echo prex ypost"


@given(st.lists(st.text(min_size=1).filter(lambda s: s.strip() == s and s.strip()), max_size=5))
def test_appended_arguments_survive_the_round_trip(args: list[str]) -> None:
    simple = [a for a in args if not ('"' in a and "'" in a) and "\n" not in a]
    parsed = parse_command(expand("!echo $@", simple, "alice"))
    assert parsed is not None
    assert parsed.args == [a for a in simple if a.split()] or not simple


def test_names_and_targets_are_checked() -> None:
    assert normalise_name("!So") == "so"
    for bad in ("", "!", "a b", "x" * 51, "so=", "$1"):
        with pytest.raises(AliasRefused):
            normalise_name(bad)
    assert check_target("!shoutout $1").trigger == "shoutout"
    for bad in ("hello", "!$1", "! x", "!" + "x" * 600):
        with pytest.raises(AliasRefused):
            check_target(bad)


def test_resolve_follows_aliases_and_refuses_what_is_too_deep() -> None:
    aliases = {"so": "!shoutout $1", "s": "!so", "plain": "!echo hi"}
    parsed = parse_command("!s bob")
    assert parsed is not None
    found = resolve(parsed, aliases, answers, "alice")
    assert found is not None
    assert (found.text, found.chain) == ("!shoutout bob", ("s", "so"))
    assert resolve(parse_command("!echo x"), aliases, answers, "alice") is None  # type: ignore[arg-type]
    # a command wins over an alias of the same name
    assert resolve(parse_command("!echo"), {"echo": "!so"}, answers, "a") is None  # type: ignore[arg-type]

    deep = {f"a{i}": f"!a{i + 1}" for i in range(MAX_DEPTH)} | {f"a{MAX_DEPTH}": "!echo"}
    with pytest.raises(AliasRefused, match="more than 5 aliases"):
        resolve(parse_command("!a0"), deep, answers, "x")  # type: ignore[arg-type]
    ok = resolve(parse_command("!a1"), deep, answers, "x")  # type: ignore[arg-type]
    assert ok is not None and ok.parsed.trigger == "echo" and len(ok.chain) == MAX_DEPTH
    with pytest.raises(AliasRefused, match="loops"):
        resolve(parse_command("!x"), {"x": "!y", "y": "!x"}, answers, "a")  # type: ignore[arg-type]


def test_graph_refuses_loops_and_depth() -> None:
    check_graph({"a": "!b", "b": "!echo"}, answers)
    with pytest.raises(AliasRefused, match=r"loop: !a → !b → !a"):
        check_graph({"a": "!b $1", "b": "!a"}, answers)
    with pytest.raises(AliasRefused, match="loop"):
        check_graph({"a": "!a"}, answers)
    chain = {f"a{i}": f"!a{i + 1}" for i in range(MAX_DEPTH - 1)} | {f"a{MAX_DEPTH - 1}": "!echo"}
    check_graph(chain, answers)
    with pytest.raises(AliasRefused, match="more than 5"):
        check_graph({**chain, "top": "!a0"}, answers)


def test_final_target_for_listings() -> None:
    aliases = {"so": "!shoutout $1", "s": "!so", "w": "#weather"}
    # the last alias's own words (nothing is expanded for a listing)
    assert final_target("!so x", aliases, answers) == parse_command("!shoutout $1")
    assert final_target("!s", aliases, answers) == parse_command("!shoutout $1")
    assert final_target("#weather", aliases, answers) == parse_command("#weather")
