"""The Admin API (OpenAI API reference: "Administration"): an organization's projects,
their API keys, service accounts and rate limits, its users, invites, admin API keys and
audit log. Every method takes the admin key's ``caller`` (``Principal.admin``) and sees
only its organization: another organization's ids are 404s, as unknown ones are. Every
write is recorded in the audit log with the admin key as its actor (docs/admin.md).

Revocation is immediate on every replica: deleting a key, archiving a project, deleting a
service account or user, or changing a key's scopes signals ``KEYS_CHANGED`` on the event
bus, whose handlers empty each replica's key cache (``ApiKeyStore.clear_cache``); a change
of rate limits signals ``LIMITS_CHANGED`` with the project id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from openai.types.admin.organization import (
    AdminAPIKey,
    AdminAPIKeyCreateResponse,
    AdminAPIKeyDeleteResponse,
    AuditLogListResponse,
    Invite,
    InviteDeleteResponse,
    OrganizationUser,
    Project,
    UserDeleteResponse,
)
from openai.types.admin.organization.projects import (
    APIKeyDeleteResponse,
    ProjectAPIKey,
    ProjectRateLimit,
    ProjectServiceAccount,
    ServiceAccountCreateResponse,
    ServiceAccountDeleteResponse,
)
from openai.types.admin.organization.projects.service_accounts import APIKeyCreateResponse

from hearth.domain import CursorPage, Page, PageParams, Principal
from hearth.errors import InvalidRequest, NotFound
from hearth.jobs.bus import EventBus
from hearth.services.admin import objects
from hearth.services.admin.params import (
    AdminKeyCreate,
    ApiKeyUpdate,
    InviteCreate,
    ProjectCreate,
    ProjectUpdate,
    RateLimitUpdate,
    ServiceAccountCreate,
    ServiceAccountKeyCreate,
    ServiceAccountUpdate,
    UserUpdate,
)
from hearth.services.admin.scopes import check_scopes
from hearth.services.models import Models
from hearth.store import models as rows
from hearth.store.admin import Actor, AdminStore, AuditFilter
from hearth.store.pages import page_list

R = TypeVar("R")

RATE_LIMIT_ID_PREFIX = "rl-"

KEYS_CHANGED = "api_keys"
"""Bus signal (target ``*``): keys were revoked or changed; every replica empties its key
cache."""

LIMITS_CHANGED = "rate_limits"
"""Bus signal (target: a project id): the project's rate limits changed."""


class Admin:
    """The Admin API's use-cases over ``AdminStore``; ``rate_limit_for`` is the lookup a
    rate limiter makes per request."""

    def __init__(
        self,
        store: AdminStore,
        models: Models,
        default_limits: tuple[int, int],
        bus: EventBus,
    ) -> None:
        """``default_limits``: requests and tokens per minute a project has for a model
        it has no limits of its own for (0: none). ``bus`` carries ``KEYS_CHANGED`` and
        ``LIMITS_CHANGED`` to every replica (the container subscribes the caches)."""
        self._store = store
        self._models = models
        self._rpm, self._tpm = default_limits
        self._bus = bus

    # --- projects -------------------------------------------------------------------

    async def create_project(self, caller: Principal, params: ProjectCreate) -> Project:
        """``projects.create``: a new active project."""
        actor = await self._actor(caller)
        return objects.project(await _run(self._store.create_project, actor, params.name))

    async def list_projects(
        self, caller: Principal, page: PageParams, include_archived: bool
    ) -> CursorPage[Project]:
        """``projects.list``: the organization's projects, oldest first."""
        found = await _run(self._store.projects, caller.organization_id, page, include_archived)
        return found.to(objects.project)

    async def retrieve_project(self, caller: Principal, project_id: str) -> Project:
        """``projects.retrieve``; 404 for another organization's or an unknown id."""
        return objects.project(await self._project(caller, project_id))

    async def update_project(
        self, caller: Principal, project_id: str, params: ProjectUpdate
    ) -> Project:
        """``projects.update``: rename; 400 for an archived project."""
        if (await self._project(caller, project_id)).archived_at is not None:
            raise InvalidRequest("An archived project cannot be modified.", param="project_id")
        actor = await self._actor(caller)
        row = await _run(self._store.update_project, actor, project_id, params.name)
        return objects.project(_found(row, "project", project_id))

    async def archive_project(self, caller: Principal, project_id: str) -> Project:
        """``projects.archive``: its keys stop working at once; it stays readable."""
        actor = await self._actor(caller)
        row = await _run(self._store.archive_project, actor, project_id)
        await self._bus.signal(KEYS_CHANGED, "*")
        return objects.project(_found(row, "project", project_id))

    # --- project API keys -----------------------------------------------------------

    async def list_api_keys(
        self, caller: Principal, project_id: str, page: PageParams
    ) -> CursorPage[ProjectAPIKey]:
        """``projects.api_keys.list``: the project's keys, redacted."""
        found = await _run(self._store.keys, caller.organization_id, project_id, page)
        return await self._keys_page(caller, _found(found, "project", project_id))

    async def retrieve_api_key(
        self, caller: Principal, project_id: str, key_id: str
    ) -> ProjectAPIKey:
        """``projects.api_keys.retrieve``; 404 if the project has no such key."""
        row = await _run(self._store.key, caller.organization_id, project_id, key_id)
        page = await self._keys_page(caller, Page([_found(row, "API key", key_id)], False))
        return page.data[0]

    async def update_api_key(
        self, caller: Principal, project_id: str, key_id: str, params: ApiKeyUpdate
    ) -> ProjectAPIKey:
        """``projects.api_keys.update``: new ``scopes`` (permissions) and/or expiry, in
        force at once; 400 for an unknown scope."""
        scopes = _scopes(params.scopes, "scopes") if params.scopes is not None else None
        actor = await self._actor(caller)
        row = await _run(
            self._store.update_key,
            actor,
            project_id,
            key_id,
            scopes=scopes,
            expires_in_seconds=params.expires_in_seconds,
        )
        await self._bus.signal(KEYS_CHANGED, "*")
        page = await self._keys_page(caller, Page([_found(row, "API key", key_id)], False))
        return page.data[0]

    async def delete_api_key(
        self, caller: Principal, project_id: str, key_id: str
    ) -> APIKeyDeleteResponse:
        """``projects.api_keys.delete``: the key stops working at once."""
        actor = await self._actor(caller)
        if not await _run(self._store.delete_key, actor, project_id, key_id):
            raise _not_found("API key", key_id)
        await self._bus.signal(KEYS_CHANGED, "*")
        return APIKeyDeleteResponse(
            id=key_id, object="organization.project.api_key.deleted", deleted=True
        )

    # --- service accounts -----------------------------------------------------------

    async def create_service_account(
        self, caller: Principal, project_id: str, params: ServiceAccountCreate
    ) -> ServiceAccountCreateResponse:
        """``projects.service_accounts.create``: role ``member`` and its first API key,
        unredacted (shown once), or role ``none`` and no key with
        ``create_service_account_only``."""
        only = bool(params.create_service_account_only)
        if only and params.expires_in_seconds is not None:
            raise InvalidRequest(
                "expires_in_seconds cannot be used with create_service_account_only.",
                param="expires_in_seconds",
            )
        await self._active_project(caller, project_id)
        actor = await self._actor(caller)
        made = await _run(
            self._store.create_service_account,
            actor,
            project_id,
            params.name,
            with_key=not only,
            expires_at=_expiry(params.expires_in_seconds),
        )
        account, secret, key = _found(made, "project", project_id)
        body: dict[str, Any] = objects.service_account(account).model_dump()
        if secret is not None and key is not None:
            body["api_key"] = _key_created(secret, key)
        return ServiceAccountCreateResponse.model_validate(body)

    async def create_service_account_key(
        self,
        caller: Principal,
        project_id: str,
        account_id: str,
        params: ServiceAccountKeyCreate,
    ) -> APIKeyCreateResponse:
        """``projects.service_accounts.api_keys.create``: a new key (unredacted, shown
        once) with ``scopes``; the way to make restricted and read-only keys."""
        scopes = _scopes(params.scopes, "scopes")
        await self._active_project(caller, project_id)
        actor = await self._actor(caller)
        made = await _run(
            self._store.create_service_account_key,
            actor,
            project_id,
            account_id,
            params.name,
            scopes,
            _expiry(params.expires_in_seconds),
        )
        secret, key = _found(made, "service account", account_id)
        return APIKeyCreateResponse.model_validate(_key_created(secret, key))

    async def list_service_accounts(
        self, caller: Principal, project_id: str, page: PageParams
    ) -> CursorPage[ProjectServiceAccount]:
        """``projects.service_accounts.list``."""
        found = await _run(self._store.service_accounts, caller.organization_id, project_id, page)
        return _found(found, "project", project_id).to(objects.service_account)

    async def retrieve_service_account(
        self, caller: Principal, project_id: str, account_id: str
    ) -> ProjectServiceAccount:
        """``projects.service_accounts.retrieve``."""
        row = await _run(
            self._store.service_account, caller.organization_id, project_id, account_id
        )
        return objects.service_account(_found(row, "service account", account_id))

    async def update_service_account(
        self, caller: Principal, project_id: str, account_id: str, params: ServiceAccountUpdate
    ) -> ProjectServiceAccount:
        """``projects.service_accounts.update``: name and/or role."""
        actor = await self._actor(caller)
        row = await _run(
            self._store.update_service_account,
            actor,
            project_id,
            account_id,
            params.name,
            params.role,
        )
        return objects.service_account(_found(row, "service account", account_id))

    async def delete_service_account(
        self, caller: Principal, project_id: str, account_id: str
    ) -> ServiceAccountDeleteResponse:
        """``projects.service_accounts.delete``: its keys stop working at once."""
        actor = await self._actor(caller)
        if not await _run(self._store.delete_service_account, actor, project_id, account_id):
            raise _not_found("service account", account_id)
        await self._bus.signal(KEYS_CHANGED, "*")
        return ServiceAccountDeleteResponse(
            id=account_id, object="organization.project.service_account.deleted", deleted=True
        )

    # --- users and invites ----------------------------------------------------------

    async def list_users(
        self, caller: Principal, page: PageParams, emails: Sequence[str]
    ) -> CursorPage[OrganizationUser]:
        """``users.list`` (``emails``: only those)."""
        found = await _run(self._store.users, caller.organization_id, page, emails)
        return found.to(objects.user)

    async def retrieve_user(self, caller: Principal, user_id: str) -> OrganizationUser:
        """``users.retrieve``."""
        row = await _run(self._store.user, caller.organization_id, user_id)
        return objects.user(_found(row, "user", user_id))

    async def update_user(
        self, caller: Principal, user_id: str, params: UserUpdate
    ) -> OrganizationUser:
        """``users.update``: the role; 400 for taking the last owner's."""
        if params.role is None:
            return await self.retrieve_user(caller, user_id)
        actor = await self._actor(caller)
        row = await _run_checked(self._store.update_user, actor, user_id, params.role)
        return objects.user(_found(row, "user", user_id))

    async def delete_user(self, caller: Principal, user_id: str) -> UserDeleteResponse:
        """``users.delete``: with its admin keys; 400 for the last owner."""
        actor = await self._actor(caller)
        if not await _run_checked(self._store.delete_user, actor, user_id):
            raise _not_found("user", user_id)
        await self._bus.signal(KEYS_CHANGED, "*")
        return UserDeleteResponse(id=user_id, object="organization.user.deleted", deleted=True)

    async def create_invite(self, caller: Principal, params: InviteCreate) -> Invite:
        """``invites.create``: a pending invite (no email is sent); 400 for a project
        that is not the organization's."""
        projects = [p.model_dump() for p in params.projects or []]
        ids = [p["id"] for p in projects]
        known = await _run(self._store.project_ids, caller.organization_id, ids)
        for index, project_id in enumerate(ids):
            if project_id not in known:
                raise InvalidRequest(
                    f"No project with id '{project_id}'.", param=f"projects[{index}].id"
                )
        actor = await self._actor(caller)
        row = await _run(self._store.create_invite, actor, params.email, params.role, projects)
        return objects.invite(row)

    async def list_invites(self, caller: Principal, page: PageParams) -> CursorPage[Invite]:
        """``invites.list``."""
        return (await _run(self._store.invites, caller.organization_id, page)).to(objects.invite)

    async def retrieve_invite(self, caller: Principal, invite_id: str) -> Invite:
        """``invites.retrieve``."""
        row = await _run(self._store.invite, caller.organization_id, invite_id)
        return objects.invite(_found(row, "invite", invite_id))

    async def delete_invite(self, caller: Principal, invite_id: str) -> InviteDeleteResponse:
        """``invites.delete``."""
        actor = await self._actor(caller)
        if not await _run(self._store.delete_invite, actor, invite_id):
            raise _not_found("invite", invite_id)
        return InviteDeleteResponse(
            id=invite_id, object="organization.invite.deleted", deleted=True
        )

    # --- admin API keys -------------------------------------------------------------

    async def create_admin_key(
        self, caller: Principal, params: AdminKeyCreate
    ) -> AdminAPIKeyCreateResponse:
        """``admin_api_keys.create``: its ``value`` (``sk-admin-...``) is shown once."""
        actor = await self._actor(caller)
        secret, row = await _run(
            self._store.create_admin_key, actor, params.name, _expiry(params.expires_in_seconds)
        )
        owner = await _run(self._store.user, caller.organization_id, row.owner_id)
        body = {**objects.admin_key(row, owner), "value": secret}
        return AdminAPIKeyCreateResponse.model_validate(body)

    async def list_admin_keys(self, caller: Principal, page: PageParams) -> CursorPage[AdminAPIKey]:
        """``admin_api_keys.list``: redacted."""
        found = await _run(self._store.admin_keys, caller.organization_id, page)
        users = await _run(self._store.users_by_id, caller.organization_id)
        return found.to(lambda row: objects.admin_api_key(row, users.get(row.owner_id)))

    async def retrieve_admin_key(self, caller: Principal, key_id: str) -> AdminAPIKey:
        """``admin_api_keys.retrieve``."""
        row = _found(
            await _run(self._store.admin_key, caller.organization_id, key_id), "admin key", key_id
        )
        owner = await _run(self._store.user, caller.organization_id, row.owner_id)
        return objects.admin_api_key(row, owner)

    async def delete_admin_key(self, caller: Principal, key_id: str) -> AdminAPIKeyDeleteResponse:
        """``admin_api_keys.delete``: it stops working at once (the caller's own too)."""
        actor = await self._actor(caller)
        if not await _run(self._store.delete_admin_key, actor, key_id):
            raise _not_found("admin key", key_id)
        await self._bus.signal(KEYS_CHANGED, "*")
        return AdminAPIKeyDeleteResponse(
            id=key_id, object="organization.admin_api_key.deleted", deleted=True
        )

    # --- project rate limits --------------------------------------------------------

    async def list_rate_limits(
        self, caller: Principal, project_id: str, page: PageParams
    ) -> CursorPage[ProjectRateLimit]:
        """``projects.rate_limits.list_rate_limits``: one per model the project can use
        (its own limits, else the defaults), by model id."""
        await self._project(caller, project_id)
        limits = await self._limits(caller.organization_id, project_id)
        items = [objects.rate_limit(model, values) for model, values in limits.items()]
        found = page_list(items, [item.id for item in items], page)
        return CursorPage.of(found.items, found.has_more)

    async def update_rate_limit(
        self, caller: Principal, project_id: str, rate_limit_id: str, params: RateLimitUpdate
    ) -> ProjectRateLimit:
        """``projects.rate_limits.update_rate_limit``: set the given limits for the
        model of ``rl-<model>``; 404 for a model the project cannot use."""
        await self._active_project(caller, project_id)
        model = rate_limit_id.removeprefix(RATE_LIMIT_ID_PREFIX)
        limits = await self._limits(caller.organization_id, project_id)
        if not rate_limit_id.startswith(RATE_LIMIT_ID_PREFIX) or model not in limits:
            raise _not_found("rate limit", rate_limit_id)
        changes = params.model_dump(exclude_none=True)
        actor = await self._actor(caller)
        row = await _run(
            self._store.update_rate_limit, actor, project_id, model, self._defaults(), changes
        )
        await self._bus.signal(LIMITS_CHANGED, project_id)
        return objects.rate_limit(model, _row_limits(row))

    async def rate_limit_for(self, project_id: str, model: str) -> ProjectRateLimit | None:
        """The limits a rate limiter applies to ``project_id`` calling ``model``: the
        project's own (``update_rate_limit``), else the server's defaults
        (``HEARTH_PROJECT_RATE_LIMIT_RPM`` / ``_TPM``); None when neither limits it.
        A value of 0 means no limit of that kind. One database read per call."""
        row = await _run(self._store.rate_limit, project_id, model)
        if row is not None:
            return objects.rate_limit(model, _row_limits(row))
        if not (self._rpm or self._tpm):
            return None
        return objects.rate_limit(model, self._defaults())

    # --- audit log ------------------------------------------------------------------

    async def list_audit_logs(
        self, caller: Principal, page: PageParams, where: AuditFilter, actor_emails: Sequence[str]
    ) -> CursorPage[AuditLogListResponse]:
        """``audit_logs.list``: the organization's admin writes, oldest first by default,
        filtered by event type, project, actor (key id or its user's email), resource
        and ``effective_at``."""
        users = await _run(self._store.users_by_id, caller.organization_id)
        if actor_emails:
            key_ids = await self._keys_of_users(caller, users, actor_emails)
            if not key_ids:
                return CursorPage.of([], False)
            wanted = set(key_ids) & set(where.actor_ids) if where.actor_ids else set(key_ids)
            where = AuditFilter(
                where.event_types,
                where.project_ids,
                sorted(wanted) or ["-"],
                where.resource_ids,
                where.effective_at,
            )
        found = await _run(self._store.audit_logs, caller.organization_id, page, where)
        return found.to(lambda row: objects.audit_log(row, users))

    # --- helpers --------------------------------------------------------------------

    async def _actor(self, caller: Principal) -> Actor:
        """The audit log's actor for ``caller``'s admin key (its owner user)."""
        key = await _run(self._store.admin_key, caller.organization_id, caller.api_key_id)
        return Actor(caller.organization_id, caller.api_key_id, key.owner_id if key else None)

    async def _keys_of_users(
        self, caller: Principal, users: dict[str, rows.OrganizationUser], emails: Sequence[str]
    ) -> list[str]:
        owners = {uid for uid, user in users.items() if user.email in emails}
        found: list[str] = []
        after: str | None = None
        while True:
            page = await _run(
                self._store.admin_keys, caller.organization_id, PageParams(100, "asc", after)
            )
            found += [k.id for k in page.items if k.owner_id in owners]
            if not page.has_more:
                return found
            after = page.items[-1].id

    async def _project(self, caller: Principal, project_id: str) -> rows.Project:
        row = await _run(self._store.project, caller.organization_id, project_id)
        return _found(row, "project", project_id)

    async def _active_project(self, caller: Principal, project_id: str) -> rows.Project:
        row = await self._project(caller, project_id)
        if row.archived_at is not None:
            raise InvalidRequest(f"Project {project_id} is archived.", param="project_id")
        return row

    async def _keys_page(
        self, caller: Principal, page: Page[rows.ApiKey]
    ) -> CursorPage[ProjectAPIKey]:
        users = await _run(self._store.users_by_id, caller.organization_id)
        owner = next((u for u in users.values() if u.role == "owner"), None)
        if owner is None:  # every organization has one from its first start
            raise NotFound("The organization has no owner.")
        ids = [k.service_account_id for k in page.items if k.service_account_id]
        accounts = await _run(self._store.accounts_by_id, ids)
        return page.to(
            lambda k: objects.project_key(k, owner, accounts.get(k.service_account_id or ""))
        )

    async def _limits(self, org_id: str, project_id: str) -> dict[str, dict[str, int | None]]:
        listed = await self._models.list(Principal.for_project(org_id, project_id))
        own = await _run(self._store.rate_limits, project_id)
        limits = {m.id: self._defaults() for m in listed.data}
        limits.update({model: _row_limits(row) for model, row in own.items()})
        return dict(sorted(limits.items()))

    def _defaults(self) -> dict[str, int | None]:
        return {"max_requests_per_1_minute": self._rpm, "max_tokens_per_1_minute": self._tpm}


_LIMITS = (
    "max_requests_per_1_minute",
    "max_tokens_per_1_minute",
    "max_requests_per_1_day",
    "max_images_per_1_minute",
    "max_audio_megabytes_per_1_minute",
    "batch_1_day_max_input_tokens",
)


def _row_limits(row: rows.ProjectRateLimitRow) -> dict[str, int | None]:
    return {name: getattr(row, name) for name in _LIMITS}


def _key_created(secret: str, key: rows.ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "object": "organization.project.service_account.api_key",
        "name": key.name,
        "value": secret,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
    }


def _expiry(seconds: int | None) -> int | None:
    return rows.now_unix() + seconds if seconds is not None else None


def _scopes(scopes: list[str], param: str) -> list[str]:
    try:
        return check_scopes(scopes)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=param, code="invalid_value") from None


def _not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"No {what} found with id '{ident}'.")


def _found(value: R | None, what: str, ident: str) -> R:
    if value is None:
        raise _not_found(what, ident)
    return value


async def _run(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def _run_checked(fn: Callable[..., R], *args: Any) -> R:
    """``_run``, a ``ValueError`` (a rule the change breaks) as a 400."""
    try:
        return await asyncio.to_thread(fn, *args)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
