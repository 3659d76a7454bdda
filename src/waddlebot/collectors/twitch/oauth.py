"""The bot account's authorisation-code flow: ``/auth/twitch/login`` → Twitch → callback.

``state`` is signed with the installation's secret key for this purpose only and expires, so
a callback cannot be forged or replayed. Starting the flow decides which Twitch account speaks
as the bot, so it is open only to loopback callers of a loopback-bound server, otherwise to
admin API keys (``waddlebot twitch login-url`` prints a link for remote operators).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.settings import BOT_SCOPES
from waddlebot.kernel.security.signed_state import StateSigner

STATE_PURPOSE = "twitch-login"


def state_signer(twitch: Twitch) -> StateSigner:
    return StateSigner(twitch.core.resolved_secret_key, STATE_PURPOSE)


def login_url(twitch: Twitch) -> str:
    """The Twitch authorisation URL with a fresh signed ``state``."""
    state = state_signer(twitch).sign({"nonce": secrets.token_urlsafe(12)})
    query = urlencode(
        {
            "client_id": twitch.auth.client_id,
            "redirect_uri": twitch.redirect_uri,
            "response_type": "code",
            "scope": " ".join(BOT_SCOPES),
            "state": state,
            "force_verify": "true",
        }
    )
    return f"{twitch.settings.auth_base}/authorize?{query}"


def check_state(twitch: Twitch, state: str) -> None:
    """Raise InvalidState unless ``state`` was minted here, for this flow, recently."""
    state_signer(twitch).verify(state, max_age=twitch.settings.state_max_age)
