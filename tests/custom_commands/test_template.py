"""The template language: what each placeholder becomes, errors with their position, and
(property-tested) that no input can run code or raise anything but TemplateError."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from waddlebot.custom_commands.template import (
    MAX_TEMPLATE,
    Template,
    TemplateError,
    Values,
    parse,
    render,
    uptime_text,
)

NOW = datetime(2026, 7, 1, 12, 30, tzinfo=UTC)
VALUES = Values(user="alice", args=("@bob", "two"), channel="lobby", count=7, now=NOW)


def text(source: str, values: Values = VALUES) -> str:
    return render(parse(source), values, rng=random.Random(1))


def test_every_placeholder() -> None:
    assert text("{user} {touser} {args} {1}|{2}|{3}") == "alice bob @bob two @bob|two|"
    assert text("{touser}", Values(user="alice")) == "alice"
    assert text("#{count} in {channel}") == "#7 in lobby"
    assert text("{ USER }") == "alice"  # names are case-insensitive, spaces around ignored
    assert text("{time Europe/Berlin} {time} {time UTC}") == "14:30 CEST 12:30 UTC 12:30 UTC"
    assert text("{uptime}") == "offline"
    live = Values(user="a", live_since=NOW - timedelta(hours=2, minutes=5), now=NOW)
    assert text("{uptime}", live) == "2h 5m"
    assert uptime_text(NOW - timedelta(seconds=42), NOW) == "42s"
    assert uptime_text(NOW - timedelta(minutes=3, seconds=1), NOW) == "3m 1s"
    assert text("{{user}} }}{{ {{7*7}}") == "{user} }{ {7*7}"
    for _ in range(50):
        assert -3 <= int(render(parse("{random -3-3}"), VALUES)) <= 3
        assert render(parse("{pick a | b|c d}"), VALUES) in ("a", "b", "c d")


def test_count_is_only_needed_when_used() -> None:
    assert parse("{count} uses").uses_count
    assert not parse("{user} {{count}}").uses_count


@pytest.mark.parametrize(
    ("source", "reason", "position"),
    [
        ("hi {nope}", "unknown variable {nope}", 4),
        ("{user.__class__}", "unknown variable {user.__class__}", 1),
        ("{args[0]}", "unknown variable {args[0]}", 1),
        ("ok {user", "a '{' that is never closed (write '{{' for a brace)", 4),
        ("{a {user}}", "a '{' that is never closed (write '{{' for a brace)", 1),
        ("x } y", "a '}' without its '{' (write '}}' for a brace)", 3),
        ("{}", "an empty placeholder {}", 1),
        ("ab{user x}", "{user} takes nothing after its name", 3),
        ("{random}", "{random} needs a range, e.g. {random 1-100}", 1),
        ("{random a-b}", "{random} needs a range, e.g. {random 1-100}", 1),
        ("{pick}", "{pick} needs options separated by |, e.g. {pick a|b}", 1),
        ("{pick a||b}", "{pick} needs options separated by |, e.g. {pick a|b}", 1),
        ("{time Mars/Olympus}", "unknown time zone 'Mars/Olympus' (e.g. Europe/Berlin)", 1),
        ("{time ../../etc/passwd}", "unknown time zone '../../etc/passwd' (e.g. Europe/Berlin)", 1),
        ("   ", "the response is empty", 1),
        ("x" * (MAX_TEMPLATE + 1), f"the response is longer than {MAX_TEMPLATE} characters", 1),
    ],
)
def test_errors_name_their_position(source: str, reason: str, position: int) -> None:
    with pytest.raises(TemplateError) as refused:
        parse(source)
    assert (refused.value.reason, refused.value.position) == (reason, position)
    assert refused.value.message == f"{reason} (at character {position})"


PIECES = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "{",
            "}",
            "{{",
            "}}",
            "{user}",
            "{touser}",
            "{count}",
            "{random 1-6}",
            "{pick a|b}",
            "{time Europe/Berlin}",
            "{uptime}",
            "{1}",
            "{__import__('os').system('touch /tmp/pwned')}",
            "{user.__class__.__mro__}",
            "{{7*7}}",
            "{% for x in y %}",
            "${user}",
            "$(eval 1+1)",
            "{time ",
            "{random 5-",
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join), st.lists(st.text(max_size=10), max_size=4))
def test_no_input_runs_code_or_escapes_the_error_type(source: str, args: list[str]) -> None:
    try:
        template = parse(source)
    except TemplateError as error:
        assert 1 <= error.position <= max(1, len(source))
        return
    assert isinstance(template, Template)
    values = Values(user="u", args=tuple(args), channel="c", count=3, now=NOW)
    out = render(template, values, rng=random.Random(0))
    assert isinstance(out, str)
    # the output is the literal text plus only the values asked for: nothing evaluated
    literal = "".join(part for part in template.parts if isinstance(part, str))
    assert all(ch in out for ch in set(literal))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="{}"), min_size=1, max_size=200))
def test_text_without_braces_is_itself(source: str) -> None:
    if not source.strip():
        return
    assert text(source) == source
