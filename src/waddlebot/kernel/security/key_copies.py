"""Sealed copies of API keys for the API gateway (the Kong Admin Broker).

WaddleBot itself keeps only a SHA-256 of each key. Kong's key-auth must be given the key
itself, and after creation nobody has it any more. So, when ``WADDLEBOT_KONG_CONSUMERS`` is on,
:func:`create_api_key` also stores the key encrypted with the installation's secret box
(``*_sealed``: covered by ``waddlebot admin rotate-secrets``) in ``api_key_gateway_copies``,
and the broker reads it back to create or repair the consumer's credential at any time. Keys
created while the setting was off have no copy and cannot be given to Kong (they are counted
and logged by the broker; re-create them). The copy goes with the key (``ON DELETE CASCADE``)
and is deleted when the key is revoked. Creating or revoking a key announces it on
:data:`KEYS_CHANGED`, so the broker passes at once instead of at its next interval.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.security.secrets_box import SecretBox
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Base


class ApiKeyGatewayCopy(Base):
    """One API key, encrypted, for the gateway's consumer credential."""

    __tablename__ = "api_key_gateway_copies"
    api_key_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    key_sealed: Mapped[str] = mapped_column(Text)


def gateway_box(settings: Settings) -> SecretBox | None:
    """The box new keys are copied into, or None when no gateway needs them."""
    return settings.secret_box if settings.kong_consumers else None


KEYS_CHANGED = "gateway:keys-changed"  # pub/sub: a key was created or revoked


async def announce_keys_changed(settings: Settings, backend: Backend) -> None:
    """Wake the broker (when keys are copied for a gateway at all)."""
    if settings.kong_consumers:
        await backend.pubsub.publish(KEYS_CHANGED, b"1")
