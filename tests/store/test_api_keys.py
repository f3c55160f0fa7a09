"""ApiKeyStore against a real SQLite file."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.store import api_keys
from hearth.store.api_keys import (
    DEFAULT_ORGANIZATION_NAME,
    DEFAULT_PROJECT_NAME,
    KEY_PREFIX,
    ApiKeyStore,
    Principal,
    UnknownProjectError,
    redact_secret,
)
from hearth.store.db import migrate, session_factory
from hearth.store.models import ApiKey, Organization, Project
from tests.conftest import add_project

EXPLICIT = "sk-hearth-operator-chosen-secret-0123456789"


def _restart(make_engine: Callable[[], Engine]) -> ApiKeyStore:
    """A new engine + store on the same database file, as after a server restart."""
    engine = make_engine()
    migrate(engine)
    return ApiKeyStore(session_factory(engine))


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(Organization)) or 0,
            s.scalar(select(func.count()).select_from(Project)) or 0,
            s.scalar(select(func.count()).select_from(ApiKey)) or 0,
        )


def _db_bytes(db_path: Path) -> bytes:
    """Bytes of the database and its WAL/SHM side files."""
    return b"".join(p.read_bytes() for p in sorted(db_path.parent.glob(db_path.name + "*")))


def _only_key(sessions: sessionmaker[Session]) -> ApiKey:
    with sessions() as s:
        return s.scalars(select(ApiKey)).one()


def test_bootstrap_creates_defaults_and_key_once(
    sessions: sessionmaker[Session], make_engine: Callable[[], Engine]
) -> None:
    store = ApiKeyStore(sessions)
    plaintext = store.bootstrap(None)
    assert plaintext is not None and plaintext.startswith(KEY_PREFIX)
    assert _counts(sessions) == (1, 1, 1)
    with sessions() as s:
        org = s.scalars(select(Organization)).one()
        project = s.scalars(select(Project)).one()
        assert (org.name, project.name) == (DEFAULT_ORGANIZATION_NAME, DEFAULT_PROJECT_NAME)
        assert org.id.startswith("org-") and project.id.startswith("proj_")
    key = _only_key(sessions)
    assert key.id.startswith("key_")
    assert store.verify(plaintext) == Principal(org.id, project.id, key.id)

    assert store.bootstrap(None) is None
    assert _restart(make_engine).bootstrap(None) is None
    assert _counts(sessions) == (1, 1, 1)


def test_explicit_key_bootstrap_is_idempotent_across_restarts(
    sessions: sessionmaker[Session], make_engine: Callable[[], Engine]
) -> None:
    assert ApiKeyStore(sessions).bootstrap(EXPLICIT) is None
    assert _counts(sessions) == (1, 1, 1)  # no generated key besides the explicit one

    restarted = _restart(make_engine)
    assert restarted.bootstrap(EXPLICIT) is None
    assert restarted.bootstrap(EXPLICIT) is None
    assert _counts(sessions) == (1, 1, 1)

    principal = _restart(make_engine).verify(EXPLICIT)
    with sessions() as s:
        project = s.scalars(select(Project)).one()
    assert principal is not None
    assert principal.project_id == project.id
    assert principal.organization_id == project.organization_id


def test_explicit_key_added_next_to_existing_generated_key(sessions: sessionmaker[Session]) -> None:
    store = ApiKeyStore(sessions)
    generated = store.bootstrap(None)
    assert store.bootstrap(EXPLICIT) is None
    assert _counts(sessions) == (1, 1, 2)
    assert generated is not None and store.verify(generated) is not None
    assert store.verify(EXPLICIT) is not None


@pytest.mark.parametrize("blank", ["", "   "])
def test_explicit_key_must_not_be_blank(sessions: sessionmaker[Session], blank: str) -> None:
    with pytest.raises(ValueError):
        ApiKeyStore(sessions).bootstrap(blank)


@pytest.mark.sqlite  # reads the database file's bytes
def test_only_hash_is_stored(
    sessions: sessionmaker[Session], engine: Engine, db_path: Path
) -> None:
    store = ApiKeyStore(sessions)
    generated = store.bootstrap(None)
    assert generated is not None
    store.bootstrap(EXPLICIT)
    created, key = store.create(key_project_id(sessions), "ci")
    secrets_ = [generated, EXPLICIT, created]
    for secret in secrets_:
        assert store.verify(secret) is not None

    def check(data: bytes) -> None:
        for secret in secrets_:
            assert secret.encode() not in data
            body = secret.removeprefix(KEY_PREFIX).encode()
            assert body not in data
            # Positive control: we are reading the right bytes.
            assert hashlib.sha256(secret.encode()).hexdigest().encode() in data

    check(_db_bytes(db_path))  # live, possibly partly in the WAL
    engine.dispose()
    check(_db_bytes(db_path))  # checkpointed
    assert key.secret_hash == hashlib.sha256(created.encode()).hexdigest()


def key_project_id(sessions: sessionmaker[Session]) -> str:
    with sessions() as s:
        return s.scalars(select(Project.id)).one()


def test_verify_rejects_unknown_keys(sessions: sessionmaker[Session]) -> None:
    store = ApiKeyStore(sessions)
    plaintext = store.bootstrap(None)
    assert plaintext is not None
    assert store.verify("sk-hearth-wrong") is None
    assert store.verify(plaintext[:-1]) is None
    assert store.verify(plaintext + "x") is None
    assert store.verify("") is None
    assert store.verify(hashlib.sha256(plaintext.encode()).hexdigest()) is None  # the hash itself


def test_create_key_verifies_to_its_project(sessions: sessionmaker[Session]) -> None:
    store = ApiKeyStore(sessions)
    store.bootstrap(None)
    org_id, project_id = add_project(sessions, "Other org", "Other project")

    plaintext, key = store.create(project_id, "deploy key")
    assert plaintext.startswith(KEY_PREFIX) and len(plaintext) == len(KEY_PREFIX) + 43
    assert key.id.startswith("key_") and key.name == "deploy key"
    assert key.project_id == project_id and key.created_at > 0 and key.last_used_at is None
    assert key.redacted_value == f"{plaintext[: len(KEY_PREFIX) + 2]}...{plaintext[-4:]}"
    assert store.verify(plaintext) == Principal(org_id, project_id, key.id)


def test_create_in_unknown_project_raises(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(UnknownProjectError):
        ApiKeyStore(sessions).create("proj_missing", "x")
    assert _counts(sessions) == (0, 0, 0)


def test_verify_sets_last_used_at(sessions: sessionmaker[Session]) -> None:
    store = ApiKeyStore(sessions)
    plaintext = store.bootstrap(None)
    assert plaintext is not None
    assert _only_key(sessions).last_used_at is None
    store.verify(plaintext)
    assert _only_key(sessions).last_used_at is not None


def test_verify_is_cached_until_cleared(sessions: sessionmaker[Session]) -> None:
    store = ApiKeyStore(sessions)
    plaintext = store.bootstrap(None)
    assert plaintext is not None
    principal = store.verify(plaintext)
    assert principal is not None
    with sessions.begin() as s:
        s.execute(delete(ApiKey))
    assert store.verify(plaintext) == principal  # served from cache, no DB hit
    store.clear_cache()
    assert store.verify(plaintext) is None


def test_a_cached_key_is_refused_once_it_expires(sessions: sessionmaker[Session]) -> None:
    store = ApiKeyStore(sessions)  # the 60 s cache
    store.bootstrap(None)
    plaintext, key = store.create(key_project_id(sessions), "short-lived")
    with sessions.begin() as s:
        s.execute(update(ApiKey).where(ApiKey.id == key.id).values(expires_at=int(time.time()) + 2))
    assert store.verify(plaintext) is not None  # cached now
    time.sleep(2.1)
    assert store.verify(plaintext) is None


def test_cache_ttl_and_bound(sessions: sessionmaker[Session]) -> None:
    store = ApiKeyStore(sessions, cache_max_entries=2, cache_ttl_seconds=0)
    store.bootstrap(None)
    project_id = key_project_id(sessions)
    plaintexts = [store.create(project_id, f"k{i}")[0] for i in range(3)]
    for _ in range(2):
        assert all(store.verify(p) is not None for p in plaintexts)
    with sessions.begin() as s:
        s.execute(delete(ApiKey))
    assert all(store.verify(p) is None for p in plaintexts)  # TTL 0: nothing stays cached


def test_concurrent_bootstrap_creates_one_key(
    make_engine: Callable[[], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several server processes starting at once must not create duplicate defaults."""
    original = api_keys._ensure_default_project

    def slow_ensure(session: Session) -> Project:
        project = original(session)
        time.sleep(0.05)  # widen the check-then-insert race window
        return project

    monkeypatch.setattr(api_keys, "_ensure_default_project", slow_ensure)
    migrate(make_engine())
    stores = [ApiKeyStore(session_factory(make_engine())) for _ in range(6)]
    results: list[str | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(store: ApiKeyStore) -> None:
        try:
            barrier.wait()
            results.append(store.bootstrap(None))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(store,)) for store in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len([r for r in results if r is not None]) == 1
    assert _counts(session_factory(make_engine())) == (1, 1, 1)


def test_redaction_never_reveals_short_secrets() -> None:
    assert redact_secret("hunter2") == "***"
    assert redact_secret("sk-hearth-short") == "***"
    long = "x" * 40
    assert redact_secret(long) == "xx...xxxx"
