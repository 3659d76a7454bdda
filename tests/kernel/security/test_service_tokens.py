"""Service tokens: an HMAC of the service name under the installation's secret key."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from waddlebot.kernel.security.service_tokens import PREFIX, service_token, verify_service_token

SECRET = "installation-secret"

service_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40
)


def test_token_is_the_documented_hmac() -> None:
    digest = hmac.new(SECRET.encode(), b"service:router", hashlib.sha256).hexdigest()
    assert service_token(SECRET, "router") == f"{PREFIX}router_{digest}"


def test_token_verifies_with_the_right_secret_only() -> None:
    token = service_token(SECRET, "router")
    assert verify_service_token(SECRET, token) == "router"
    assert verify_service_token("another-secret", token) is None
    assert verify_service_token("", token) is None


def test_tokens_differ_per_service_and_per_secret() -> None:
    tokens = {
        service_token(SECRET, "router"),
        service_token(SECRET, "playground"),
        service_token("rotated", "router"),
    }
    assert len(tokens) == 3


def test_a_token_cannot_be_relabelled_for_another_service() -> None:
    digest = service_token(SECRET, "playground").rpartition("_")[2]
    assert verify_service_token(SECRET, f"{PREFIX}router_{digest}") is None


def test_tampered_and_malformed_tokens_are_refused() -> None:
    token = service_token(SECRET, "router")
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    for wrong in [
        flipped,
        token + "0",
        token[:-1],
        token.upper(),
        token.replace(PREFIX, "wbk_", 1),
        token[len(PREFIX) :],
        PREFIX,
        f"{PREFIX}_{token.rpartition('_')[2]}",  # empty service name
        f"{PREFIX}router",
        "",
        "garbage",
    ]:
        assert verify_service_token(SECRET, wrong) is None, wrong


@given(service=service_names, secret=st.text(min_size=1, max_size=40))
def test_any_service_name_round_trips(service: str, secret: str) -> None:
    token = service_token(secret, service)
    assert verify_service_token(secret, token) == service
    assert verify_service_token(secret + "x", token) is None
