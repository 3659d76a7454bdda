"""Slack request signing, checked as Slack signs (and against Slack's documented example)."""

from __future__ import annotations

from tests.collectors.slack.fake_slack import SIGNING_SECRET, signed_headers
from waddlebot.collectors.slack.verify import verify_slack

# Slack's documented example (reference §2.2): secret, timestamp and expected signature.
EXAMPLE_TS = 1531420618
EXAMPLE_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121"
    b".803a0bc887a14d10d2c447fce8b6703c"
)
EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_documented_example_verifies() -> None:
    headers = {"X-Slack-Request-Timestamp": str(EXAMPLE_TS), "X-Slack-Signature": EXAMPLE_SIGNATURE}
    assert verify_slack(SIGNING_SECRET, headers, EXAMPLE_BODY, now=lambda: EXAMPLE_TS + 10)
    assert signed_headers(EXAMPLE_BODY, timestamp=EXAMPLE_TS)["X-Slack-Signature"] == (
        EXAMPLE_SIGNATURE
    )


def test_tampered_wrong_secret_and_missing_headers_are_rejected() -> None:
    body = b'{"type":"event_callback"}'
    headers = signed_headers(body)
    assert verify_slack(SIGNING_SECRET, headers, body)
    assert not verify_slack(SIGNING_SECRET, headers, body + b" ")
    assert not verify_slack("another-secret", headers, body)
    assert not verify_slack(
        SIGNING_SECRET, {"X-Slack-Signature": headers["X-Slack-Signature"]}, body
    )
    assert not verify_slack(
        SIGNING_SECRET, {"X-Slack-Request-Timestamp": headers["X-Slack-Request-Timestamp"]}, body
    )
    bad_ts = {**headers, "X-Slack-Request-Timestamp": "not-a-number"}
    assert not verify_slack(SIGNING_SECRET, bad_ts, body)


def test_replay_window_is_five_minutes() -> None:
    body = b"{}"
    headers = signed_headers(body, timestamp=1_000_000)
    assert verify_slack(SIGNING_SECRET, headers, body, now=lambda: 1_000_299)
    assert verify_slack(SIGNING_SECRET, headers, body, now=lambda: 999_701)
    assert not verify_slack(SIGNING_SECRET, headers, body, now=lambda: 1_000_301)
    assert not verify_slack(SIGNING_SECRET, headers, body, now=lambda: 999_699)
