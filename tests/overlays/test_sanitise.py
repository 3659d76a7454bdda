"""Content safety: what survives the sanitiser is bounded text and a small HTML subset."""

from __future__ import annotations

import pytest

from waddlebot.overlays.sanitize import ContentRejected, clean_html, image_url, sanitise

HOSTS = ["images.example.com", "*.cdn.example.net"]


@pytest.mark.parametrize(
    "html",
    [
        "<script>window.__pwned = 1</script>hi",
        '<img src="https://images.example.com/a.png" onerror="window.__pwned = 1">',
        '<p onclick="x()" style="position:fixed">hi</p>',
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe><object data=x></object>",
        "<svg><script>alert(1)</script></svg><style>*{}</style>",
        "<p>x<!-- comment --></p><link rel=stylesheet href=https://evil.example/a.css>",
    ],
)
def test_html_loses_scripts_handlers_styles_and_embeds(html: str) -> None:
    cleaned = clean_html(html, HOSTS)
    lowered = cleaned.lower()
    for needle in (
        "<script",
        "onerror",
        "onclick",
        "style",
        "javascript:",
        "iframe",
        "object",
        "<svg",
        "<link",
        "<a",
        "<!--",
        "evil",
    ):
        assert needle not in lowered, (needle, cleaned)


def test_html_keeps_formatting_and_images_from_allowed_hosts_only() -> None:
    cleaned = clean_html(
        "<h2>Hi</h2><p><b>bold</b> <em>em</em></p><ul><li>one</li></ul>"
        '<img src="https://images.example.com/ok.png" alt="ok" width="64">'
        '<img src="https://elsewhere.example.org/no.png" alt="no">'
        '<img src="http://images.example.com/plain-http.png" alt="http">'
        '<img src="https://a.cdn.example.net/x.png" alt="wild" height="9999999">',
        HOSTS,
    )
    assert "<h2>Hi</h2>" in cleaned and "<b>bold</b>" in cleaned and "<li>one</li>" in cleaned
    assert 'src="https://images.example.com/ok.png"' in cleaned and 'width="64"' in cleaned
    assert "elsewhere.example.org" not in cleaned and "plain-http" not in cleaned
    assert 'src="https://a.cdn.example.net/x.png"' in cleaned and "9999999" not in cleaned


def test_image_urls_need_https_and_an_allowed_host() -> None:
    assert image_url("https://images.example.com/a.png", HOSTS)
    assert image_url("https://deep.a.cdn.example.net/a.png", HOSTS)
    assert image_url("https://cdn.example.net.evil.org/a.png", HOSTS) is None
    assert image_url("https://user:pw@images.example.com/a.png", HOSTS) is None
    assert image_url("data:image/png;base64,AAAA", HOSTS) is None
    assert image_url("javascript:alert(1)", HOSTS) is None
    assert image_url("https://images.example.com/a.png", []) is None


def test_content_is_reduced_to_known_bounded_fields() -> None:
    ticker = sanitise("ticker", {"text": "  hello\x00 <b>x</b> " + "y" * 500, "evil": 1}, HOSTS)
    assert set(ticker) == {"text"} and len(ticker["text"]) == 300
    assert ticker["text"].startswith("hello <b>x</b>")  # text stays text: the page escapes it
    media = sanitise(
        "media",
        {
            "title": "Song",
            "artist": 42,
            "art": "https://evil.example/a.png",
            "length": 200,
            "position": 500,
            "playing": "yes",
        },
        HOSTS,
    )
    assert media == {
        "title": "Song",
        "artist": "42",
        "length": 200.0,
        "position": 200.0,
        "playing": True,
    }
    alert = sanitise("alert", {"event": "Follow<script>", "user": "ada", "message": "hi"}, HOSTS)
    assert alert == {"event": "followscript", "user": "ada", "text": "hi"}
    assert sanitise("clear", {"kind": "nope"}, HOSTS) == {}
    assert sanitise("clear", {"kind": "media"}, HOSTS) == {"kind": "media"}


def test_a_general_person_card_keeps_safe_images_and_plain_text() -> None:
    card = sanitise(
        "general",
        {
            "title": "Alice",
            "subtitle": "Last seen playing <b>Celeste</b>\x07",
            "image": "https://images.example.com/alice.png",
            "thumbnail": "http://images.example.com/clip.jpg",  # not https
            "caption": "x" * 300,
            "url": "https://clips.twitch.tv/a",  # no field of the page: dropped
            "embed_url": "https://clips.twitch.tv/embed?clip=a",
        },
        HOSTS,
    )
    assert card == {
        "title": "Alice",
        "subtitle": "Last seen playing <b>Celeste</b>",  # text: the page escapes it
        "image": "https://images.example.com/alice.png",
        "caption": "x" * 200,
    }
    only_picture = sanitise("general", {"thumbnail": "https://a.cdn.example.net/t.jpg"}, HOSTS)
    assert only_picture == {"thumbnail": "https://a.cdn.example.net/t.jpg"}
    elsewhere = {"image": "https://evil.example/a.png", "thumbnail": "javascript:alert(1)"}
    with pytest.raises(ContentRejected):
        sanitise("general", elsewhere, HOSTS)


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("ticker", {}),
        ("ticker", {"text": "   "}),
        ("media", {"artist": "x"}),
        ("general", {"html": "<script>x</script>"}),
        ("alert", {"event": "follow"}),
        ("banner", {"text": "x"}),
    ],
)
def test_nothing_displayable_is_rejected(kind: str, content: dict[str, object]) -> None:
    with pytest.raises(ContentRejected):
        sanitise(kind, content, HOSTS)


def test_a_player_instruction_keeps_only_a_video_id_entry_and_volume() -> None:
    assert sanitise(
        "player",
        {"command": "play", "video": "dQw4w9WgXcQ", "entry": "abc123", "volume": 40, "x": 1},
        [],
    ) == {"command": "play", "video": "dQw4w9WgXcQ", "entry": "abc123", "volume": 40}
    assert sanitise(
        "player",
        {"command": "play", "video": "javascript:alert(1)", "entry": "<b>", "volume": 300},
        [],
    ) == {"command": "play"}
    assert sanitise("player", {"command": "stop", "volume": 0}, []) == {
        "command": "stop",
        "volume": 0,
    }
    with pytest.raises(ContentRejected):
        sanitise("player", {"command": "eject", "video": "dQw4w9WgXcQ"}, [])
