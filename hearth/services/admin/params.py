"""Request bodies of the Admin API (OpenAI's ``*Params``), validated strictly."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Name = Field(min_length=1, max_length=256)
OptionalName = Field(default=None, min_length=1, max_length=256)
Seconds = Field(default=None, ge=1, le=10 * 365 * 24 * 3600)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectCreate(_Body):
    """``projects.create``: ``name``; data residency and external keys are not
    offered here, so ``geography`` / ``residency`` / ``external_key_id`` must be null."""

    name: str = Name
    external_key_id: None = None
    geography: None = None
    residency: None = None


class ProjectUpdate(_Body):
    """``projects.update``: a new ``name``."""

    name: str | None = OptionalName
    external_key_id: None = None
    geography: None = None


class ServiceAccountCreate(_Body):
    """``projects.service_accounts.create``."""

    name: str = Name
    create_service_account_only: bool | None = None
    expires_in_seconds: int | None = Seconds


class ServiceAccountUpdate(_Body):
    """``projects.service_accounts.update``."""

    name: str | None = OptionalName
    role: Literal["member", "owner"] | None = None


class ServiceAccountKeyCreate(_Body):
    """``projects.service_accounts.api_keys.create``: ``scopes`` as OpenAI names them
    (none: all permissions; ``["api.all.read"]``: read only)."""

    name: str | None = OptionalName
    scopes: list[str] = Field(default_factory=list, max_length=64)
    expires_in_seconds: int | None = Seconds


class ApiKeyUpdate(_Body):
    """``projects.api_keys.update``: replace ``scopes`` (``[]``: all permissions) and/or
    the expiry (seconds from now)."""

    scopes: list[str] | None = Field(default=None, max_length=64)
    expires_in_seconds: int | None = Seconds


class InviteProject(_Body):
    id: str = Field(min_length=1, max_length=64)
    role: Literal["member", "owner"]


class InviteCreate(_Body):
    """``invites.create``: recorded as pending; no email is sent."""

    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    role: Literal["reader", "owner"]
    projects: list[InviteProject] | None = Field(default=None, max_length=100)


class UserUpdate(_Body):
    """``users.update``: ``role`` ``owner`` or ``reader``."""

    role: Literal["owner", "reader"] | None = None
    role_id: None = None
    developer_persona: str | None = None
    technical_level: str | None = None


class AdminKeyCreate(_Body):
    """``admin_api_keys.create``."""

    name: str = Name
    expires_in_seconds: int | None = Seconds


Limit = Field(default=None, ge=0, le=2**53)


class RateLimitUpdate(_Body):
    """``projects.rate_limits.update_rate_limit``: the limits to change (0: no limit)."""

    max_requests_per_1_minute: int | None = Limit
    max_tokens_per_1_minute: int | None = Limit
    max_requests_per_1_day: int | None = Limit
    max_images_per_1_minute: int | None = Limit
    max_audio_megabytes_per_1_minute: int | None = Limit
    batch_1_day_max_input_tokens: int | None = Limit
