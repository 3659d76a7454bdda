"""Overlay settings, read from ``WADDLEBOT_OVERLAY_*`` (the kernel settings stay untouched)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OverlaySettings(BaseSettings):
    """Limits and allow-lists of the overlay hub. See docs/overlays.md."""

    model_config = SettingsConfigDict(env_prefix="WADDLEBOT_OVERLAY_", extra="ignore")

    # Hosts images may come from (media art, alert images, <img> in general content); https
    # only. Empty: no remote images at all.
    image_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ticker_max: int = Field(default=20, ge=1, le=500, description="ticker lines kept per community")
    ticker_duration: float = Field(default=30.0, gt=0, le=3600)
    alert_duration: float = Field(default=6.0, gt=0, le=600)
    alert_gap: float = Field(default=0.5, ge=0, le=60, description="pause between two alerts")
    alert_queue_max: int = Field(
        default=20, ge=1, le=1000, description="alerts waiting per community"
    )
    ping_interval: float = Field(default=20.0, gt=0, le=300)
    revalidate_interval: float = Field(
        default=30.0,
        gt=0,
        description="seconds between checks that open sockets' tokens are still live (covers "
        "revocations whose pub/sub notice never arrived, e.g. from a CLI in embedded mode)",
    )
    linger: float = Field(
        default=120.0, ge=0, description="seconds a community's state outlives its last socket"
    )
    # Origins (scheme://host[:port]) whose pages may open overlay sockets besides this
    # installation's own (WADDLEBOT_PUBLIC_URL, or the host the page was served from) and
    # none/"null" (OBS). "*" allows any origin.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Uploaded overlay media (alert images and sounds, card art), in the object store.
    media_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, le=32 * 1024 * 1024, description="bytes per file"
    )
    media_max_files: int = Field(default=200, ge=1, le=10_000, description="per community")

    @field_validator("image_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [str(part).strip().lower() for part in value if str(part).strip()]
        return value
