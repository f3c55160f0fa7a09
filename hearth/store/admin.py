"""The Admin API's tables: projects (as an organization manages them), project API keys,
service accounts, organization users, invites, admin API keys and project rate limits,
with the audit log written in the same transaction as each change.

Every query is scoped to an organization; an id of another organization reads as absent
(None / False), so the service answers 404 as for an unknown id. Secrets are stored as
``hearth.store.api_keys`` stores them (sha256 and a redacted form); the plaintext is
returned once by the method that creates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.store.api_keys import (
    ADMIN_KEY_PREFIX,
    generate_secret,
    hash_secret,
    new_admin_key,
    redact_secret,
)
from hearth.store.ids import new_id
from hearth.store.models import (
    AdminApiKey,
    ApiKey,
    AuditLog,
    Invite,
    OrganizationUser,
    Project,
    ProjectRateLimitRow,
    ServiceAccount,
    now_unix,
)
from hearth.store.pages import paginate

INVITE_TTL_SECONDS = 7 * 24 * 3600
"""An invite expires a week after it is sent (OpenAI's invites do too)."""


@dataclass(frozen=True)
class Actor:
    """Who makes an admin change: the organization, the admin key and its owner user
    (the audit log's ``actor``)."""

    organization_id: str
    api_key_id: str
    user_id: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    """``client.admin.organization.audit_logs.list`` filters; empty lists match all,
    ``effective_at`` bounds in Unix seconds (``gt``, ``gte``, ``lt``, ``lte``)."""

    event_types: Sequence[str] = ()
    project_ids: Sequence[str] = ()
    actor_ids: Sequence[str] = ()
    resource_ids: Sequence[str] = ()
    effective_at: dict[str, int] | None = None


class AdminStore:
    """Reads and writes of the Admin API's rows (sync; the service calls it on a thread)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # --- projects -------------------------------------------------------------------

    def create_project(self, actor: Actor, name: str) -> Project:
        """A new active project of the actor's organization (``project.created``)."""
        with self._sessions.begin() as session:
            project = Project(organization_id=actor.organization_id, name=name)
            session.add(project)
            session.flush()
            details = {"id": project.id, "data": {"name": name, "title": name}}
            _audit(session, actor, "project.created", details, project)
        return project

    def projects(self, org_id: str, page: PageParams, include_archived: bool) -> Page[Project]:
        """One page of the organization's projects (archived ones only if asked)."""
        stmt = select(Project).where(Project.organization_id == org_id)
        if not include_archived:
            stmt = stmt.where(Project.archived_at.is_(None))
        with self._sessions() as session:
            return paginate(session, stmt, Project, page)

    def project(self, org_id: str, project_id: str) -> Project | None:
        """The organization's project ``project_id``, archived or not."""
        with self._sessions() as session:
            return _project(session, org_id, project_id)

    def update_project(self, actor: Actor, project_id: str, name: str | None) -> Project | None:
        """Rename the project (``project.updated``); None if it is not the organization's."""
        with self._sessions.begin() as session:
            project = _project(session, actor.organization_id, project_id)
            if project is None:
                return None
            if name is not None:
                project.name = name
            details = {"id": project_id, "changes_requested": {"title": name}}
            _audit(session, actor, "project.updated", details, project)
        return project

    def archive_project(self, actor: Actor, project_id: str) -> Project | None:
        """Archive the project (``project.archived``; its keys stop working). Archiving
        an archived project changes nothing. None if it is not the organization's."""
        with self._sessions.begin() as session:
            project = _project(session, actor.organization_id, project_id)
            if project is None:
                return None
            if project.archived_at is None:
                project.archived_at = now_unix()
                _audit(session, actor, "project.archived", {"id": project_id}, project)
        return project

    # --- project API keys -----------------------------------------------------------

    def keys(self, org_id: str, project_id: str, page: PageParams) -> Page[ApiKey] | None:
        """One page of the project's API keys; None if it is not the organization's."""
        with self._sessions() as session:
            if _project(session, org_id, project_id) is None:
                return None
            stmt = select(ApiKey).where(ApiKey.project_id == project_id)
            return paginate(session, stmt, ApiKey, page)

    def key(self, org_id: str, project_id: str, key_id: str) -> ApiKey | None:
        """The project's API key ``key_id``."""
        with self._sessions() as session:
            return _key(session, org_id, project_id, key_id)

    def update_key(
        self,
        actor: Actor,
        project_id: str,
        key_id: str,
        *,
        scopes: list[str] | None,
        expires_in_seconds: int | None,
    ) -> ApiKey | None:
        """Replace the key's scopes and/or expiry (``api_key.updated``); None if absent."""
        with self._sessions.begin() as session:
            key = _key(session, actor.organization_id, project_id, key_id)
            if key is None:
                return None
            changes: dict[str, Any] = {}
            if scopes is not None:
                key.scopes = changes["scopes"] = scopes
            if expires_in_seconds is not None:
                key.expires_at = now_unix() + expires_in_seconds
                changes["expires_in_seconds"] = expires_in_seconds
            project = session.get(Project, project_id)
            details = {"id": key_id, "changes_requested": changes}
            _audit(session, actor, "api_key.updated", details, project)
        return key

    def delete_key(self, actor: Actor, project_id: str, key_id: str) -> bool:
        """Delete the project's key (``api_key.deleted``); False if absent."""
        with self._sessions.begin() as session:
            key = _key(session, actor.organization_id, project_id, key_id)
            if key is None:
                return False
            session.delete(key)
            project = session.get(Project, project_id)
            _audit(session, actor, "api_key.deleted", {"id": key_id}, project)
        return True

    # --- service accounts -----------------------------------------------------------

    def create_service_account(
        self, actor: Actor, project_id: str, name: str, *, with_key: bool, expires_at: int | None
    ) -> tuple[ServiceAccount, str | None, ApiKey | None] | None:
        """A service account of the project (``service_account.created``), role
        ``member`` with a first API key (``api_key.created``), or role ``none`` and no
        key when not ``with_key``. ``(account, plaintext, key)``; None if the project is
        not the organization's."""
        with self._sessions.begin() as session:
            project = _project(session, actor.organization_id, project_id)
            if project is None:
                return None
            account = ServiceAccount(
                id=new_id("svc_acct_"),
                project_id=project_id,
                name=name,
                role="member" if with_key else "none",
            )
            session.add(account)
            session.flush()
            details = {"id": account.id, "data": {"role": account.role}}
            _audit(session, actor, "service_account.created", details, project)
            if not with_key:
                return account, None, None
            secret, key = _add_key(session, actor, project, account.id, name, [], expires_at)
        return account, secret, key

    def create_service_account_key(
        self,
        actor: Actor,
        project_id: str,
        account_id: str,
        name: str | None,
        scopes: list[str],
        expires_at: int | None,
    ) -> tuple[str, ApiKey] | None:
        """A new API key of the service account (``api_key.created``); None if absent."""
        with self._sessions.begin() as session:
            account = _account(session, actor.organization_id, project_id, account_id)
            project = session.get(Project, project_id)
            if account is None or project is None:
                return None
            key_name = name if name is not None else account.name
            return _add_key(session, actor, project, account.id, key_name, scopes, expires_at)

    def service_accounts(
        self, org_id: str, project_id: str, page: PageParams
    ) -> Page[ServiceAccount] | None:
        """One page of the project's service accounts; None if the project is absent."""
        with self._sessions() as session:
            if _project(session, org_id, project_id) is None:
                return None
            stmt = select(ServiceAccount).where(ServiceAccount.project_id == project_id)
            return paginate(session, stmt, ServiceAccount, page)

    def service_account(
        self, org_id: str, project_id: str, account_id: str
    ) -> ServiceAccount | None:
        """The project's service account ``account_id``."""
        with self._sessions() as session:
            return _account(session, org_id, project_id, account_id)

    def accounts_by_id(self, ids: Sequence[str]) -> dict[str, ServiceAccount]:
        """Service accounts by id (the owners of a page of keys)."""
        if not ids:
            return {}
        with self._sessions() as session:
            rows = session.scalars(select(ServiceAccount).where(ServiceAccount.id.in_(ids)))
            return {row.id: row for row in rows}

    def update_service_account(
        self, actor: Actor, project_id: str, account_id: str, name: str | None, role: str | None
    ) -> ServiceAccount | None:
        """Rename the account or change its role (``service_account.updated``); None if
        absent."""
        with self._sessions.begin() as session:
            account = _account(session, actor.organization_id, project_id, account_id)
            if account is None:
                return None
            if name is not None:
                account.name = name
            if role is not None:
                account.role = role
            details = {"id": account_id, "changes_requested": {"role": role}}
            _audit(session, actor, "service_account.updated", details, account.project_id)
        return account

    def delete_service_account(self, actor: Actor, project_id: str, account_id: str) -> bool:
        """Delete the account and its keys (``service_account.deleted``); False if absent."""
        with self._sessions.begin() as session:
            account = _account(session, actor.organization_id, project_id, account_id)
            if account is None:
                return False
            session.execute(delete(ApiKey).where(ApiKey.service_account_id == account_id))
            session.delete(account)
            project = session.get(Project, project_id)
            _audit(session, actor, "service_account.deleted", {"id": account_id}, project)
        return True

    # --- organization users and invites ---------------------------------------------

    def users(
        self, org_id: str, page: PageParams, emails: Sequence[str] = ()
    ) -> Page[OrganizationUser]:
        """One page of the organization's users (``emails``: only those)."""
        stmt = select(OrganizationUser).where(OrganizationUser.organization_id == org_id)
        if emails:
            stmt = stmt.where(OrganizationUser.email.in_(emails))
        with self._sessions() as session:
            return paginate(session, stmt, OrganizationUser, page)

    def user(self, org_id: str, user_id: str) -> OrganizationUser | None:
        """The organization's user ``user_id``."""
        with self._sessions() as session:
            return _user(session, org_id, user_id)

    def users_by_id(self, org_id: str) -> dict[str, OrganizationUser]:
        """Every user of the organization, by id."""
        with self._sessions() as session:
            rows = session.scalars(
                select(OrganizationUser).where(OrganizationUser.organization_id == org_id)
            )
            return {row.id: row for row in rows}

    def update_user(self, actor: Actor, user_id: str, role: str) -> OrganizationUser | None:
        """Change the user's role (``user.updated``); None if absent. ``ValueError`` when
        it would leave the organization without an owner."""
        with self._sessions.begin() as session:
            user = _user(session, actor.organization_id, user_id)
            if user is None:
                return None
            if user.role == "owner" and role != "owner":
                _keep_an_owner(session, actor.organization_id)
            user.role = role
            details = {"id": user_id, "changes_requested": {"role": role}}
            _audit(session, actor, "user.updated", details)
        return user

    def delete_user(self, actor: Actor, user_id: str) -> bool:
        """Remove the user and its admin keys (``user.deleted``); False if absent.
        ``ValueError`` for the organization's last owner."""
        with self._sessions.begin() as session:
            user = _user(session, actor.organization_id, user_id)
            if user is None:
                return False
            if user.role == "owner":
                _keep_an_owner(session, actor.organization_id)
            session.execute(delete(AdminApiKey).where(AdminApiKey.owner_id == user_id))
            session.delete(user)
            _audit(session, actor, "user.deleted", {"id": user_id})
        return True

    def create_invite(
        self, actor: Actor, email: str, role: str, projects: list[dict[str, str]]
    ) -> Invite:
        """A pending invite (``invite.sent``; no email is sent)."""
        with self._sessions.begin() as session:
            now = now_unix()
            invite = Invite(
                id=new_id("invite-"),
                organization_id=actor.organization_id,
                email=email,
                role=role,
                projects=projects,
                created_at=now,
                expires_at=now + INVITE_TTL_SECONDS,
            )
            session.add(invite)
            session.flush()
            details = {"id": invite.id, "data": {"email": email, "role": role}}
            _audit(session, actor, "invite.sent", details)
        return invite

    def project_ids(self, org_id: str, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` that are the organization's projects."""
        with self._sessions() as session:
            stmt = select(Project.id).where(Project.organization_id == org_id, Project.id.in_(ids))
            return set(session.scalars(stmt))

    def invites(self, org_id: str, page: PageParams) -> Page[Invite]:
        """One page of the organization's invites."""
        stmt = select(Invite).where(Invite.organization_id == org_id)
        with self._sessions() as session:
            return paginate(session, stmt, Invite, page)

    def invite(self, org_id: str, invite_id: str) -> Invite | None:
        """The organization's invite ``invite_id``."""
        with self._sessions() as session:
            return session.scalar(_owned(Invite, org_id, invite_id))

    def delete_invite(self, actor: Actor, invite_id: str) -> bool:
        """Delete a pending invite (``invite.deleted``); False if absent."""
        with self._sessions.begin() as session:
            invite = session.scalar(_owned(Invite, actor.organization_id, invite_id))
            if invite is None:
                return False
            session.delete(invite)
            _audit(session, actor, "invite.deleted", {"id": invite_id})
        return True

    # --- admin API keys -------------------------------------------------------------

    def create_admin_key(
        self, actor: Actor, name: str, expires_at: int | None
    ) -> tuple[str, AdminApiKey]:
        """A new admin key owned by the actor's user (``api_key.created``):
        ``(plaintext, row)``."""
        secret = generate_secret(ADMIN_KEY_PREFIX)
        with self._sessions.begin() as session:
            owner_id = actor.user_id or _first_owner(session, actor.organization_id)
            key = new_admin_key(actor.organization_id, owner_id, name, secret)
            key.expires_at = expires_at
            session.add(key)
            session.flush()
            _audit(session, actor, "api_key.created", {"id": key.id, "data": {"scopes": []}})
        return secret, key

    def admin_keys(self, org_id: str, page: PageParams) -> Page[AdminApiKey]:
        """One page of the organization's admin keys."""
        stmt = select(AdminApiKey).where(AdminApiKey.organization_id == org_id)
        with self._sessions() as session:
            return paginate(session, stmt, AdminApiKey, page)

    def admin_key(self, org_id: str, key_id: str) -> AdminApiKey | None:
        """The organization's admin key ``key_id``."""
        with self._sessions() as session:
            return session.scalar(_owned(AdminApiKey, org_id, key_id))

    def delete_admin_key(self, actor: Actor, key_id: str) -> bool:
        """Delete the admin key (``api_key.deleted``); False if absent."""
        with self._sessions.begin() as session:
            key = session.scalar(_owned(AdminApiKey, actor.organization_id, key_id))
            if key is None:
                return False
            session.delete(key)
            _audit(session, actor, "api_key.deleted", {"id": key_id})
        return True

    # --- project rate limits --------------------------------------------------------

    def rate_limits(self, project_id: str) -> dict[str, ProjectRateLimitRow]:
        """The project's own limits, by model."""
        with self._sessions() as session:
            rows = session.scalars(
                select(ProjectRateLimitRow).where(ProjectRateLimitRow.project_id == project_id)
            )
            return {row.model: row for row in rows}

    def rate_limit(self, project_id: str, model: str) -> ProjectRateLimitRow | None:
        """The project's own limits for ``model``, or None (the defaults apply)."""
        with self._sessions() as session:
            return session.get(ProjectRateLimitRow, (project_id, model))

    def update_rate_limit(
        self,
        actor: Actor,
        project_id: str,
        model: str,
        defaults: dict[str, int | None],
        changes: dict[str, int],
    ) -> ProjectRateLimitRow:
        """Set ``changes`` on the project's limits for ``model`` (a new row starts from
        ``defaults``; ``rate_limit.updated``)."""
        with self._sessions.begin() as session:
            row = session.get(ProjectRateLimitRow, (project_id, model))
            if row is None:
                row = ProjectRateLimitRow(project_id=project_id, model=model, **defaults)
                session.add(row)
            for name, value in changes.items():
                setattr(row, name, value)
            session.flush()
            project = session.get(Project, project_id)
            details = {"id": f"rl-{model}", "changes_requested": changes}
            _audit(session, actor, "rate_limit.updated", details, project)
        return row

    # --- audit log ------------------------------------------------------------------

    def audit_logs(self, org_id: str, page: PageParams, where: AuditFilter) -> Page[AuditLog]:
        """One page of the organization's audit log, filtered."""
        stmt = select(AuditLog).where(AuditLog.organization_id == org_id)
        for column, values in (
            (AuditLog.type, where.event_types),
            (AuditLog.project_id, where.project_ids),
            (AuditLog.actor_key_id, where.actor_ids),
            (AuditLog.resource_id, where.resource_ids),
        ):
            if values:
                stmt = stmt.where(column.in_(values))
        for op, bound in (where.effective_at or {}).items():
            stmt = stmt.where(_compare(AuditLog.effective_at, op, bound))
        with self._sessions() as session:
            return paginate(session, stmt, AuditLog, page)


def _compare(column: Any, op: str, bound: int) -> Any:
    """``column <op> bound`` for ``gt`` / ``gte`` / ``lt`` / ``lte``."""
    return {
        "gt": column > bound,
        "gte": column >= bound,
        "lt": column < bound,
        "lte": column <= bound,
    }[op]


Owned = TypeVar("Owned", Invite, AdminApiKey, Project, OrganizationUser)


def _owned(model: type[Owned], org_id: str, row_id: str) -> Select[Owned]:
    """The organization's row ``row_id`` of ``model``."""
    return select(model).where(model.id == row_id, model.organization_id == org_id)


def _project(session: Session, org_id: str, project_id: str) -> Project | None:
    return session.scalar(_owned(Project, org_id, project_id))


def _user(session: Session, org_id: str, user_id: str) -> OrganizationUser | None:
    return session.scalar(_owned(OrganizationUser, org_id, user_id))


def _key(session: Session, org_id: str, project_id: str, key_id: str) -> ApiKey | None:
    return session.scalar(
        select(ApiKey)
        .join(Project, ApiKey.project_id == Project.id)
        .where(
            ApiKey.id == key_id, ApiKey.project_id == project_id, Project.organization_id == org_id
        )
    )


def _account(
    session: Session, org_id: str, project_id: str, account_id: str
) -> ServiceAccount | None:
    return session.scalar(
        select(ServiceAccount)
        .join(Project, ServiceAccount.project_id == Project.id)
        .where(
            ServiceAccount.id == account_id,
            ServiceAccount.project_id == project_id,
            Project.organization_id == org_id,
        )
    )


def _first_owner(session: Session, org_id: str) -> str:
    owner = session.scalar(
        select(OrganizationUser.id)
        .where(OrganizationUser.organization_id == org_id, OrganizationUser.role == "owner")
        .order_by(OrganizationUser.seq)
        .limit(1)
    )
    if owner is None:
        raise ValueError("the organization has no owner")
    return owner


def _keep_an_owner(session: Session, org_id: str) -> None:
    owners = session.scalar(
        select(func.count())
        .select_from(OrganizationUser)
        .where(OrganizationUser.organization_id == org_id, OrganizationUser.role == "owner")
    )
    if not owners or owners <= 1:
        raise ValueError("An organization must keep at least one owner.")


def _add_key(
    session: Session,
    actor: Actor,
    project: Project,
    account_id: str,
    name: str,
    scopes: list[str],
    expires_at: int | None,
) -> tuple[str, ApiKey]:
    secret = generate_secret()
    key = ApiKey(
        id=new_id("key_"),
        project_id=project.id,
        name=name,
        secret_hash=hash_secret(secret),
        redacted_value=redact_secret(secret),
        scopes=scopes,
        service_account_id=account_id,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    _audit(session, actor, "api_key.created", {"id": key.id, "data": {"scopes": scopes}}, project)
    return secret, key


def _audit(
    session: Session,
    actor: Actor,
    event_type: str,
    details: dict[str, Any],
    project: Project | str | None = None,
) -> None:
    """Record one audit log entry in the change's own transaction."""
    if isinstance(project, str):
        project = session.get(Project, project)
    session.add(
        AuditLog(
            id=new_id("audit_log-"),
            organization_id=actor.organization_id,
            type=event_type,
            actor_key_id=actor.api_key_id,
            actor_user_id=actor.user_id,
            project_id=project.id if project is not None else None,
            project_name=project.name if project is not None else None,
            resource_id=details.get("id"),
            details=details,
        )
    )
