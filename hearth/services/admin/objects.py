"""Admin API rows -> the SDK's ``openai.types.admin.organization`` objects."""

from __future__ import annotations

from typing import Any

from openai.types.admin.organization import (
    AdminAPIKey,
    AuditLogListResponse,
    Invite,
    OrganizationUser,
    Project,
)
from openai.types.admin.organization.projects import (
    ProjectAPIKey,
    ProjectRateLimit,
    ProjectServiceAccount,
)

from hearth.store import models as rows


def project(row: rows.Project) -> Project:
    """``organization.project``: ``status`` ``active`` or ``archived``."""
    return Project(
        id=row.id,
        object="organization.project",
        name=row.name,
        created_at=row.created_at,
        archived_at=row.archived_at,
        status="archived" if row.archived_at is not None else "active",
    )


def user(row: rows.OrganizationUser) -> OrganizationUser:
    """``organization.user``."""
    return OrganizationUser(
        id=row.id,
        object="organization.user",
        name=row.name,
        email=row.email,
        role=row.role,
        added_at=row.created_at,
    )


def project_key(
    row: rows.ApiKey, owner: rows.OrganizationUser, account: rows.ServiceAccount | None
) -> ProjectAPIKey:
    """``organization.project.api_key``, owned by its service account or else by the
    organization's owner user."""
    if account is not None:
        owned: dict[str, Any] = {
            "type": "service_account",
            "service_account": {
                "id": account.id,
                "name": account.name,
                "role": account.role,
                "created_at": account.created_at,
            },
        }
    else:
        owned = {
            "type": "user",
            "user": {
                "id": owner.id,
                "name": owner.name,
                "email": owner.email,
                "role": "owner",
                "created_at": owner.created_at,
            },
        }
    return ProjectAPIKey.model_validate(
        {
            "id": row.id,
            "object": "organization.project.api_key",
            "name": row.name,
            "redacted_value": row.redacted_value,
            "created_at": row.created_at,
            "last_used_at": row.last_used_at,
            "expires_at": row.expires_at,
            "owner": owned,
            "owner_project_access": "active",
        }
    )


def service_account(row: rows.ServiceAccount) -> ProjectServiceAccount:
    """``organization.project.service_account``."""
    return ProjectServiceAccount(
        id=row.id,
        object="organization.project.service_account",
        name=row.name,
        role=row.role,  # type: ignore[arg-type]
        created_at=row.created_at,
    )


def admin_key(row: rows.AdminApiKey, owner: rows.OrganizationUser | None) -> dict[str, Any]:
    """``organization.admin_api_key``'s fields (``AdminAPIKey`` or, with ``value``, the
    create response)."""
    return {
        "id": row.id,
        "object": "organization.admin_api_key",
        "name": row.name,
        "redacted_value": row.redacted_value,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "expires_at": row.expires_at,
        "owner": (
            {
                "id": owner.id,
                "object": "organization.user",
                "name": owner.name,
                "role": owner.role,
                "type": "user",
                "created_at": owner.created_at,
            }
            if owner is not None
            else {}
        ),
    }


def admin_api_key(row: rows.AdminApiKey, owner: rows.OrganizationUser | None) -> AdminAPIKey:
    """``organization.admin_api_key`` (redacted)."""
    return AdminAPIKey.model_validate(admin_key(row, owner))


def invite(row: rows.Invite) -> Invite:
    """``organization.invite``: ``pending``, or ``expired`` past ``expires_at``."""
    return Invite.model_validate(
        {
            "id": row.id,
            "object": "organization.invite",
            "email": row.email,
            "role": row.role,
            "projects": row.projects,
            "status": "pending" if row.expires_at > rows.now_unix() else "expired",
            "created_at": row.created_at,
            "expires_at": row.expires_at,
            "accepted_at": None,
        }
    )


def rate_limit(model: str, limits: dict[str, int | None]) -> ProjectRateLimit:
    """``project.rate_limit`` of ``model`` (id ``rl-<model>``); unset optional limits are
    left out, as OpenAI leaves out those that do not apply to a model."""
    present = {name: value for name, value in limits.items() if value is not None}
    return ProjectRateLimit.model_validate(
        {"id": f"rl-{model}", "object": "project.rate_limit", "model": model, **present}
    )


def audit_log(row: rows.AuditLog, users: dict[str, rows.OrganizationUser]) -> AuditLogListResponse:
    """One audit log entry: ``actor`` the admin key (and its owner user), ``project``
    when the change is a project's, the event object under its ``type``."""
    api_key: dict[str, Any] = {"id": row.actor_key_id, "type": "user"}
    owner = users.get(row.actor_user_id or "")
    if owner is not None:
        api_key["user"] = {"id": owner.id, "email": owner.email}
    body: dict[str, Any] = {
        "id": row.id,
        "type": row.type,
        "effective_at": row.effective_at,
        "actor": {"type": "api_key", "api_key": api_key},
        row.type: row.details,
    }
    if row.project_id is not None:
        body["project"] = {"id": row.project_id, "name": row.project_name}
    return AuditLogListResponse.model_validate(body)
