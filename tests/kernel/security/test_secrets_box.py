from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from waddlebot.kernel.security.secrets_box import SecretBox, SecretUnreadable, derived_key
from waddlebot.kernel.security.signed_state import InvalidState, StateSigner
from waddlebot.kernel.settings import Settings


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    box = SecretBox.from_settings("secret", [])
    sealed = box.encrypt("oauth:abc123")
    assert "abc123" not in sealed
    assert box.decrypt(sealed) == "oauth:abc123"


def test_rotation_keeps_old_ciphertexts_readable() -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    old_box = SecretBox([old_key])
    sealed = old_box.encrypt("token")
    rotated_box = SecretBox([new_key, old_key])
    assert rotated_box.decrypt(sealed) == "token"
    resealed = rotated_box.rotate(sealed)
    assert SecretBox([new_key]).decrypt(resealed) == "token"
    with pytest.raises(SecretUnreadable):
        old_box.decrypt(resealed)


def test_tampered_or_foreign_ciphertext_is_refused() -> None:
    box = SecretBox([derived_key("a")])
    sealed = box.encrypt("token")
    with pytest.raises(SecretUnreadable):
        SecretBox([derived_key("b")]).decrypt(sealed)
    with pytest.raises(SecretUnreadable):
        box.decrypt(sealed[:-4] + "AAAA")


@pytest.mark.parametrize(
    "key",
    [b"", b"short", b"not base64 at all!!", b"A" * 43, b"QUJD" * 10 + b"QQ", b"=" * 44],
    ids=["empty", "short", "not-base64", "unpadded", "wrong-length", "padding-only"],
)
def test_a_key_fernet_refuses_is_refused_when_the_box_is_made(key: bytes) -> None:
    """The box checks keys itself (cryptography is loaded on first use): same verdict."""
    with pytest.raises(ValueError):
        Fernet(key)
    with pytest.raises(ValueError, match="32 url-safe base64-encoded bytes"):
        SecretBox([Fernet.generate_key(), key])


def test_settings_use_configured_keys_first(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("WADDLEBOT_ENCRYPTION_KEYS", f"{key}, {Fernet.generate_key().decode()}")
    settings = Settings(secret_key="s")
    sealed = settings.secret_box.encrypt("x")
    assert SecretBox([key.encode()]).decrypt(sealed) == "x"


def test_signed_state_round_trip_purpose_and_expiry() -> None:
    twitch = StateSigner("secret", "twitch-login")
    token = twitch.sign({"user": "u1"})
    assert twitch.verify(token, max_age=60) == {"user": "u1"}
    with pytest.raises(InvalidState):
        StateSigner("secret", "slack-install").verify(token, max_age=60)
    with pytest.raises(InvalidState):
        StateSigner("other-secret", "twitch-login").verify(token, max_age=60)
    with pytest.raises(InvalidState):
        twitch.verify(token + "x", max_age=60)
    with pytest.raises(InvalidState, match="expired"):
        twitch.verify(token, max_age=-1)
