"""API keys: bootstrap, creation and request-time verification.

Project keys look like ``sk-hearth-<43 url-safe chars>`` (``secrets.token_urlsafe(32)``,
256 bits), Admin API keys like ``sk-admin-<43 url-safe chars>``. Only
``sha256(secret).hexdigest()`` and a redacted form such as ``sk-hearth-ab...wxyz`` are
stored; the plaintext is returned exactly once, by :meth:`ApiKeyStore.create`,
:meth:`ApiKeyStore.bootstrap` or :meth:`ApiKeyStore.bootstrap_admin` (the Admin API's
own creations are in :mod:`hearth.store.admin`).

A project key works while its project is not archived and it has not expired; its
``scopes`` become the ``Principal``'s. An admin key acts for its organization only
(``Principal.admin``). A key's own expiry is checked even on a cache hit; every change the
Admin API makes empties the cache of every replica (``hearth.services.admin``'s
``KEYS_CHANGED`` signal on the event bus).

Verification looks keys up by their hash, so the comparison never touches the
plaintext and its timing does not depend on how much of a guess was right.

Caching (``verify`` runs on every request): successful lookups are cached
in-process as ``hash -> Principal`` in a bounded LRU (4096 entries) with a
60 s TTL. Failed lookups are not cached. Consequently a key deleted in the
database (by this or another process) may keep working for up to the TTL in
processes that verified it recently, unless :meth:`ApiKeyStore.clear_cache` is called
there (the Admin API has every replica call it). A key's own expiry is kept with it, so
an expired key is refused at once whatever the TTL.

``last_used_at`` is written only when a verification misses the cache and the
stored value is at least 60 s old, so there is at most about one write per key
per minute per process and none on cache hits. Its resolution is therefore
roughly two minutes. If that write hits lock contention it is skipped
(authentication still succeeds).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict

from sqlalchemy import exists, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Principal
from hearth.store.db import lock_for_write
from hearth.store.ids import new_id
from hearth.store.models import (
    AdminApiKey,
    ApiKey,
    Organization,
    OrganizationUser,
    Project,
    now_unix,
)

logger = logging.getLogger(__name__)

KEY_PREFIX = "sk-hearth-"
ADMIN_KEY_PREFIX = "sk-admin-"
ADMIN_KEY_ID_PREFIX = "key_"
USER_ID_PREFIX = "user-"
OWNER_NAME = "Owner"
OWNER_EMAIL = "owner@hearth.invalid"
"""The organization owner user made at first start (Hearth sends no email)."""
GENERATED_ADMIN_KEY_NAME = "Default admin key"
DEFAULT_ORGANIZATION_NAME = "Default organization"
DEFAULT_PROJECT_NAME = "Default project"
GENERATED_KEY_NAME = "Default key"
EXPLICIT_KEY_NAME = "Configured key"

CACHE_MAX_ENTRIES = 4096
CACHE_TTL_SECONDS = 60.0
LAST_USED_RESOLUTION_SECONDS = 60

_REDACT_MIN_HIDDEN = 16
"""Show a head and tail of a secret only if at least this many chars stay hidden."""


class UnknownProjectError(LookupError):
    """Raised by :meth:`ApiKeyStore.create` when the project does not exist."""


def generate_secret(prefix: str = KEY_PREFIX) -> str:
    """Return a new plaintext secret: ``prefix`` (``"sk-hearth-"``, or ``"sk-admin-"``
    for an admin key) ``+ secrets.token_urlsafe(32)``."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Return the sha256 hex digest (64 lowercase hex chars) of ``secret``'s UTF-8 bytes."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def redact_secret(secret: str) -> str:
    """Return a display form that does not reveal the secret.

    ``sk-hearth-abcdef...wxyz`` -> ``sk-hearth-ab...wxyz`` (``sk-admin-`` alike). Other
    (e.g. operator-chosen) secrets keep 2 leading and 4 trailing characters only when
    at least 16 characters stay hidden; short ones become ``"***"``.
    """
    prefix = next((p for p in (KEY_PREFIX, ADMIN_KEY_PREFIX) if secret.startswith(p)), "")
    head_len = len(prefix) + 2
    if len(secret) - head_len - 4 < _REDACT_MIN_HIDDEN:
        return "***"
    return f"{secret[:head_len]}...{secret[-4:]}"


class _PrincipalCache:
    """Thread-safe bounded LRU of ``secret_hash -> Principal`` with a TTL."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._max_entries = max_entries
        self._ttl = ttl_seconds
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, secret_hash: str) -> Principal | None:
        """Return the cached principal, or None if absent or expired."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(secret_hash)
            if entry is None:
                return None
            principal, expires_at = entry
            if expires_at <= now:
                del self._entries[secret_hash]
                return None
            self._entries.move_to_end(secret_hash)
            return principal

    def put(self, secret_hash: str, principal: Principal, key_expires_at: int | None) -> None:
        """Insert or refresh an entry, evicting the least recently used beyond the bound;
        it is dropped after the TTL, or when the key itself expires (``key_expires_at``,
        Unix seconds) if that is sooner."""
        if self._max_entries <= 0:
            return
        expires_at = time.monotonic() + self._ttl
        if key_expires_at is not None:
            expires_at = min(expires_at, time.monotonic() + key_expires_at - time.time())
        with self._lock:
            self._entries[secret_hash] = (principal, expires_at)
            self._entries.move_to_end(secret_hash)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()


class ApiKeyStore:
    """Persistence and verification of API keys. Thread-safe; share one per process."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        cache_max_entries: int = CACHE_MAX_ENTRIES,
        cache_ttl_seconds: float = CACHE_TTL_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._cache = _PrincipalCache(cache_max_entries, cache_ttl_seconds)

    def bootstrap(self, explicit_key: str | None) -> str | None:
        """Ensure a default organization and project exist, and that some key can log in.

        The default organization is the oldest one (created as "Default
        organization" if there is none); the default project is the oldest
        project in it (created as "Default project" if there is none).

        * ``explicit_key`` given: ensure a key with that secret exists (added to
          the default project if its hash is not in the database yet). Safe to
          repeat across restarts; never duplicates. Returns None.
        * otherwise, if no API key exists at all: create one in the default
          project and return its plaintext (the caller shows it once).
        * otherwise: returns None.

        Runs in one transaction holding the write lock, so concurrent server
        starts do not create duplicates. Raises ``ValueError`` if
        ``explicit_key`` is empty or whitespace, and
        ``sqlalchemy.exc.SQLAlchemyError`` on database failures.
        """
        if explicit_key is not None and not explicit_key.strip():
            raise ValueError("explicit API key must not be empty")
        with self._sessions.begin() as session:
            lock_for_write(session.connection())
            project = _ensure_default_project(session)
            ensure_owner(session, project.organization_id)
            if explicit_key is not None:
                if not _hash_exists(session, hash_secret(explicit_key)):
                    session.add(_new_key(project.id, EXPLICIT_KEY_NAME, explicit_key))
                return None
            if session.scalar(select(exists().select_from(ApiKey))):
                return None
            secret = generate_secret()
            session.add(_new_key(project.id, GENERATED_KEY_NAME, secret))
            return secret

    def bootstrap_admin(self, explicit_key: str | None) -> str | None:
        """As :meth:`bootstrap`, for the Admin API: ensure the default organization's
        owner user and that some admin key can log in. ``explicit_key`` given: ensure an
        admin key with that secret exists (owned by the owner; None returned). Otherwise,
        if the database has no admin key at all: create one (``sk-admin-...``) and
        return its plaintext, shown once by the caller. ``ValueError`` if
        ``explicit_key`` is empty or whitespace, or is a project key's secret."""
        if explicit_key is not None and not explicit_key.strip():
            raise ValueError("explicit admin key must not be empty")
        with self._sessions.begin() as session:
            lock_for_write(session.connection())
            org_id = _ensure_default_project(session).organization_id
            owner = ensure_owner(session, org_id)
            if explicit_key is not None:
                secret_hash = hash_secret(explicit_key)
                if _hash_exists(session, secret_hash):
                    raise ValueError("the admin key must differ from every project API key")
                if session.scalar(
                    select(AdminApiKey.id).where(AdminApiKey.secret_hash == secret_hash)
                ):
                    return None
                session.add(new_admin_key(org_id, owner.id, EXPLICIT_KEY_NAME, explicit_key))
                return None
            if session.scalar(select(exists().select_from(AdminApiKey))):
                return None
            secret = generate_secret(ADMIN_KEY_PREFIX)
            session.add(new_admin_key(org_id, owner.id, GENERATED_ADMIN_KEY_NAME, secret))
            return secret

    def create(self, project_id: str, name: str) -> tuple[str, ApiKey]:
        """Create a key in ``project_id``; return ``(plaintext, ApiKey)``.

        The plaintext (``sk-hearth-...``) is not stored and cannot be recovered
        later. The returned ``ApiKey`` is detached from any session with its
        columns loaded (relationships are not). Raises ``UnknownProjectError``
        if the project does not exist.
        """
        secret = generate_secret()
        with self._sessions() as session:
            if session.get(Project, project_id) is None:
                raise UnknownProjectError(f"no project with id {project_id!r}")
            key = _new_key(project_id, name, secret)
            session.add(key)
            session.flush()
            session.expunge(key)
            session.commit()
        return secret, key

    def verify(self, secret: str) -> Principal | None:
        """Return the ``Principal`` for ``secret``, or None if it is not a known key.

        Hot path: served from the in-process cache when possible (see module
        docstring for TTL and ``last_used_at`` behaviour). Never raises for bad
        input; database errors propagate as ``sqlalchemy.exc.SQLAlchemyError``.
        """
        if not secret:
            return None
        secret_hash = hash_secret(secret)
        principal = self._cache.get(secret_hash)
        if principal is not None:
            return principal
        found = self._load_principal(secret_hash)
        if found is None:
            return None
        principal, key_expires_at = found
        self._cache.put(secret_hash, principal, key_expires_at)
        return principal

    def cached(self, secret: str) -> Principal | None:
        """``verify``'s answer if it is in the in-process cache, else None (no database
        access, so it may run on the event loop)."""
        return self._cache.get(hash_secret(secret)) if secret else None

    def default_principal(self) -> Principal | None:
        """The oldest key of the oldest project, or None without keys (the server acts
        as it for its own loopback-only demo page)."""
        stmt = (
            select(ApiKey.id, ApiKey.project_id, Project.organization_id)
            .join(Project, ApiKey.project_id == Project.id)
            .where(Project.archived_at.is_(None))
            .order_by(Project.created_at, ApiKey.created_at, ApiKey.id)
            .limit(1)
        )
        with self._sessions() as session:
            row = session.execute(stmt).one_or_none()
        if row is None:
            return None
        return Principal(
            organization_id=row.organization_id, project_id=row.project_id, api_key_id=row.id
        )

    def clear_cache(self) -> None:
        """Forget all cached verifications (e.g. after deleting keys)."""
        self._cache.clear()

    def _load_principal(self, secret_hash: str) -> tuple[Principal, int | None] | None:
        """Look the hash up in the database (project keys of unarchived projects, then
        admin keys; expired keys are unknown) and refresh ``last_used_at`` if stale:
        the principal and the key's expiry (Unix seconds), or None."""
        stmt = (
            select(
                ApiKey.id,
                ApiKey.project_id,
                Project.organization_id,
                ApiKey.secret_hash,
                ApiKey.last_used_at,
                ApiKey.expires_at,
                ApiKey.scopes,
            )
            .join(Project, ApiKey.project_id == Project.id)
            .where(ApiKey.secret_hash == secret_hash, Project.archived_at.is_(None))
        )
        with self._sessions() as session:
            row = session.execute(stmt).one_or_none()
            if row is not None and _valid(row.secret_hash, secret_hash, row.expires_at):
                _touch_last_used(session, ApiKey, row.id, row.last_used_at)
                principal = Principal(
                    organization_id=row.organization_id,
                    project_id=row.project_id,
                    api_key_id=row.id,
                    scopes=frozenset(row.scopes or ()),
                )
                return principal, row.expires_at
            admin = session.scalars(
                select(AdminApiKey).where(AdminApiKey.secret_hash == secret_hash)
            ).one_or_none()
            if admin is None or not _valid(admin.secret_hash, secret_hash, admin.expires_at):
                return None
            principal = Principal(admin.organization_id, "", admin.id, admin=True)
            _touch_last_used(session, AdminApiKey, admin.id, admin.last_used_at)
        return principal, admin.expires_at


def _new_key(project_id: str, name: str, secret: str) -> ApiKey:
    """Build (not add) an ``ApiKey`` row for ``secret``; stores only hash and redaction."""
    return ApiKey(
        project_id=project_id,
        name=name,
        secret_hash=hash_secret(secret),
        redacted_value=redact_secret(secret),
    )


def _valid(stored_hash: str, secret_hash: str, expires_at: int | None) -> bool:
    """The stored hash equals the presented one (constant time) and it has not expired."""
    fresh = expires_at is None or expires_at > now_unix()
    return hmac.compare_digest(stored_hash, secret_hash) and fresh


def new_admin_key(organization_id: str, owner_id: str, name: str, secret: str) -> AdminApiKey:
    """Build (not add) an ``AdminApiKey`` row for ``secret`` (hash and redaction only)."""
    return AdminApiKey(
        id=new_id(ADMIN_KEY_ID_PREFIX),
        organization_id=organization_id,
        owner_id=owner_id,
        name=name,
        secret_hash=hash_secret(secret),
        redacted_value=redact_secret(secret),
    )


def ensure_owner(session: Session, organization_id: str) -> OrganizationUser:
    """The organization's first owner user, created (``Owner``, ``OWNER_EMAIL``) if it
    has none."""
    owner = session.scalars(
        select(OrganizationUser)
        .where(
            OrganizationUser.organization_id == organization_id,
            OrganizationUser.role == "owner",
        )
        .order_by(OrganizationUser.seq)
        .limit(1)
    ).first()
    if owner is None:
        owner = OrganizationUser(
            id=new_id(USER_ID_PREFIX),
            organization_id=organization_id,
            name=OWNER_NAME,
            email=OWNER_EMAIL,
            role="owner",
        )
        session.add(owner)
        session.flush()
    return owner


def _hash_exists(session: Session, secret_hash: str) -> bool:
    """True if some API key has this secret hash."""
    return bool(session.scalar(select(exists().where(ApiKey.secret_hash == secret_hash))))


def _ensure_default_organization(session: Session) -> Organization:
    """Return the oldest organization, creating the default one if none exists."""
    org = session.scalars(
        select(Organization).order_by(Organization.created_at, Organization.id).limit(1)
    ).first()
    if org is None:
        org = Organization(name=DEFAULT_ORGANIZATION_NAME)
        session.add(org)
        session.flush()
    return org


def _ensure_default_project(session: Session) -> Project:
    """Return the oldest project of the default organization, creating one if needed."""
    org = _ensure_default_organization(session)
    project = session.scalars(
        select(Project)
        .where(Project.organization_id == org.id)
        .order_by(Project.created_at, Project.id)
        .limit(1)
    ).first()
    if project is None:
        project = Project(organization_id=org.id, name=DEFAULT_PROJECT_NAME)
        session.add(project)
        session.flush()
    return project


def _touch_last_used(
    session: Session, table: type[ApiKey] | type[AdminApiKey], key_id: str, last_used_at: int | None
) -> None:
    """Set ``last_used_at`` to now if it is unset or at least a minute old.

    Best effort: on lock contention (``OperationalError``) the update is rolled
    back and skipped rather than failing the request.
    """
    now = now_unix()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION_SECONDS:
        return
    try:
        session.execute(update(table).where(table.id == key_id).values(last_used_at=now))
        session.commit()
    except OperationalError:
        session.rollback()
        logger.warning("could not update last_used_at for API key %s; skipped", key_id)
