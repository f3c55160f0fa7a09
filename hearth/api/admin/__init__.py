"""The Admin API, ``/v1/organization/...`` (``client.admin.organization``; docs/admin.md),
for admin keys only: one module per SDK resource path, all under ``router``."""

from __future__ import annotations

from fastapi import APIRouter

from hearth.api.admin.organization import admin_api_keys, audit_logs, invites, projects, users
from hearth.api.admin.organization.projects import api_keys, rate_limits, service_accounts
from hearth.api.admin.organization.projects.service_accounts import api_keys as account_keys

router = APIRouter()
for module in (
    projects,
    api_keys,
    service_accounts,
    account_keys,
    rate_limits,
    users,
    invites,
    admin_api_keys,
    audit_logs,
):
    router.include_router(module.router)
