"""Request and response bodies of the marketplace API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from waddlebot.kernel.contracts import Manifest


class Published(BaseModel):
    name: str
    version: str
    signing_secret: str | None = Field(
        default=None,
        description="http modules: the HMAC secret to serve the module with "
        "(WADDLEBOT_MODULE_SECRET); keep it private",
    )


class ModuleSummary(BaseModel):
    name: str
    latest_version: str
    description: str
    author: str
    categories: list[str]
    runtime: str
    builtin: bool
    commands: list[str]


class ModuleDetails(ModuleSummary):
    versions: list[str]
    manifest: Manifest
    installs: int


class Category(BaseModel):
    name: str
    modules: int


class InstallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(default=None, description="default: the latest version")
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class Install(BaseModel):
    community_id: str
    module: str
    version: str
    config: dict[str, Any]
    enabled: bool
    commands: list[str]
    installed_at: datetime
    updated_at: datetime


class CommunityRef(BaseModel):
    community_id: str
