"""SQLAlchemy ORM models for Hearth's persistent state.

Shapes (all timestamps are integer Unix seconds, like the OpenAI API):

* ``organizations``: ``id`` ("org-<24 alnum>"), ``name``, ``created_at``.
* ``projects``: ``id`` ("proj_<24 alnum>"), ``organization_id`` -> organizations,
  ``name``, ``created_at``, ``archived_at`` (nullable), ``seq``.
* ``api_keys``: ``id`` ("key_<24 alnum>"), ``project_id`` -> projects, ``name``,
  ``secret_hash`` (sha256 hex of the secret, unique), ``redacted_value``
  ("sk-hearth-ab...wxyz"), ``created_at``, ``last_used_at`` (nullable), ``scopes``
  (JSON list, ``[]``: all permissions), ``service_account_id`` and ``expires_at``
  (nullable), ``seq``.
* The Admin API's tables (users, invites, admin keys, service accounts, rate limits,
  audit log) are at the end of this module.

The plaintext of an API key is never stored; see :mod:`hearth.store.api_keys`.
Deleting an organization or project cascades to its children (database-level
``ON DELETE CASCADE`` plus ORM cascades).

Any change here needs a matching Alembic revision in ``migrations/versions``;
``tests/store/test_migrations.py`` fails if models and migrations disagree.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hearth.store.ids import new_id

ORGANIZATION_ID_PREFIX = "org-"
PROJECT_ID_PREFIX = "proj_"
API_KEY_ID_PREFIX = "key_"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations (incl. SQLite batch mode) can
refer to constraints by name on every backend."""


def now_unix() -> int:
    """Current time as integer Unix seconds."""
    return int(time.time())


def _new_org_id() -> str:
    return new_id(ORGANIZATION_ID_PREFIX)


def _new_project_id() -> str:
    return new_id(PROJECT_ID_PREFIX)


def _new_api_key_id() -> str:
    return new_id(API_KEY_ID_PREFIX)


class Base(DeclarativeBase):
    """Declarative base for all Hearth tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Organization(Base):
    """A tenant. Owns projects."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=_new_org_id)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)

    projects: Mapped[list[Project]] = relationship(
        back_populates="organization", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Organization(id={self.id!r}, name={self.name!r})"


class Project(Base):
    """A project inside an organization. Owns API keys."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=_new_project_id)
    organization_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    archived_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """Set when archived (``client.admin.organization.projects.archive``): its keys stop
    working; archived projects stay readable through the Admin API."""
    seq: Mapped[int] = mapped_column(
        BigInteger, index=True, default=lambda: next_seq(), server_default=text("0")
    )

    organization: Mapped[Organization] = relationship(back_populates="projects")
    api_keys: Mapped[list[ApiKey]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"Project(id={self.id!r}, name={self.name!r})"


class ApiKey(Base):
    """An API key. Only the sha256 hex digest of the secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=_new_api_key_id)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    redacted_value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    """OpenAI's key permissions: ``[]`` all, ``["api.all.read"]`` read only, otherwise
    the restricted key's scopes (``hearth.services.scopes``)."""
    service_account_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    """The owning service account; None: the organization's owner user owns it. No foreign
    key (adding one would rebuild this table on SQLite): ``AdminStore`` deletes an
    account's keys with it, and both go with their project."""
    expires_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    seq: Mapped[int] = mapped_column(
        BigInteger, index=True, default=lambda: next_seq(), server_default=text("0")
    )

    project: Mapped[Project] = relationship(back_populates="api_keys")

    def __repr__(self) -> str:
        # Deliberately omits secret_hash.
        return f"ApiKey(id={self.id!r}, name={self.name!r}, redacted={self.redacted_value!r})"


class RealtimeClientSecret(Base):
    """An ephemeral Realtime key (``ek_...``) minted by ``POST /v1/realtime/client_secrets``:
    only its sha256 is stored, with the key that minted it and the session it presets."""

    __tablename__ = "realtime_client_secrets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    api_key_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    session: Mapped[str] = mapped_column(Text)
    """The session settings (GA JSON) a connection with this key starts from."""
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


# --- Files, stored completions, Evals and fine-tuning (migration 0003) -----------------


class Leased:
    """The columns of durable background work (``hearth.jobs``): a row is worked on by
    the process whose ``lease_owner`` holds an unexpired ``lease_expires_at`` (Unix s);
    ``attempts`` counts claims; ``seq`` orders claims oldest first."""

    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


# Every listable row has ``seq``: a process-monotonic nanosecond stamp (``next_seq``) that
# orders lists and cursors (``after=<id>``) exactly in creation order, where ``created_at``
# (seconds) ties. Project-owned rows cascade with their project. JSON columns hold the
# OpenAI-shaped objects as the API returns them.


class StoredFile(Base):
    """``client.files``: an uploaded file. Bytes live in blob storage under ``blob_key``."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(1024))
    purpose: Mapped[str] = mapped_column(String(32), index=True)
    bytes: Mapped[int] = mapped_column(BigInteger)
    blob_key: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="processed")
    status_details: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class StoredCompletion(Base):
    """A chat completion created with ``store: true``: the request's messages and
    parameters and the returned ``ChatCompletion``, with the caller's ``metadata``."""

    __tablename__ = "stored_completions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(256), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The request body as sent (messages, tools, sampling parameters)."""
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The ``ChatCompletion`` as returned (streamed ones are assembled)."""
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class Eval(Base):
    """``client.evals``: a data source config and testing criteria."""

    __tablename__ = "evals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(1024))
    data_source_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    testing_criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    updated_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class EvalRun(Leased, Base):
    """``client.evals.runs``: one run of an eval over a data source, executed in the
    background under a lease (``lease_owner`` / ``lease_expires_at``)."""

    __tablename__ = "eval_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    eval_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("evals.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(1024))
    model: Mapped[str | None] = mapped_column(String(256), default=None)
    status: Mapped[str] = mapped_column(String(16), index=True)
    """queued | in_progress | completed | failed | canceled"""
    data_source: Mapped[dict[str, Any]] = mapped_column(JSON)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, default=None)
    result_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    per_testing_criteria_results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    per_model_usage: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)


class EvalOutputItem(Base):
    """One graded sample of an eval run; unique per (run, data source item index), so a
    resumed run skips what it already wrote."""

    __tablename__ = "eval_output_items"
    __table_args__ = (UniqueConstraint("run_id", "datasource_item_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("eval_runs.id", ondelete="CASCADE"), index=True
    )
    eval_id: Mapped[str] = mapped_column(String(64))
    datasource_item_id: Mapped[int] = mapped_column(Integer)
    datasource_item: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    sample: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    """pass | fail | error"""
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class FineTuningJob(Leased, Base):
    """``client.fine_tuning.jobs``: a LoRA training job, run by a worker process under a
    lease. ``control`` carries a pending ``pause`` / ``cancel`` request to the runner."""

    __tablename__ = "fine_tuning_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(512), default=None, index=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    """validating_files | queued | running | paused | succeeded | failed | cancelled"""
    training_file: Mapped[str] = mapped_column(String(64))
    validation_file: Mapped[str | None] = mapped_column(String(64), default=None)
    suffix: Mapped[str | None] = mapped_column(String(64), default=None)
    seed: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[dict[str, Any]] = mapped_column(JSON)
    """OpenAI's ``method`` object with every hyperparameter resolved (no ``"auto"``)."""
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)
    result_files: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_path: Mapped[str | None] = mapped_column(String(1024), default=None)
    """The served GGUF (relative to the data dir), set only once it is completely written."""
    control: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    estimated_finish: Mapped[int | None] = mapped_column(BigInteger, default=None)


class FineTuningEvent(Base):
    """``jobs.list_events``: status changes and per-step metrics of a job."""

    __tablename__ = "fine_tuning_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), index=True
    )
    level: Mapped[str] = mapped_column(String(8), default="info")
    message: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default="message")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class FineTuningCheckpoint(Base):
    """``jobs.checkpoints.list``: one per epoch, each served as its own model."""

    __tablename__ = "fine_tuning_checkpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fine_tuning_jobs.id", ondelete="CASCADE"), index=True
    )
    fine_tuned_model_checkpoint: Mapped[str] = mapped_column(String(512), index=True)
    step_number: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    model_path: Mapped[str] = mapped_column(String(1024))
    """The checkpoint's GGUF, relative to the data dir (written before this row)."""
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class VectorStore(Base):
    """``client.vector_stores``: a searchable collection of files, embedded with
    ``embedding_model``. ``status`` and ``file_counts`` are derived from its files."""

    __tablename__ = "vector_stores"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(1024), default="")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, default=None)
    embedding_model: Mapped[str] = mapped_column(String(256))
    expires_after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    last_active_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class VectorStoreFileBatch(Base):
    """``vector_stores.file_batches``: files added together; counts come from its files."""

    __tablename__ = "vector_store_file_batches"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector_store_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), index=True
    )
    cancelled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class VectorStoreFile(Leased, Base):
    """``vector_stores.files``: a file in a store, ingested in the background (extract,
    chunk, embed) as leased work; ``file_id`` is its id on the wire. Deleting the file or
    the store deletes this row and its chunks."""

    __tablename__ = "vector_store_files"
    __table_args__ = (UniqueConstraint("vector_store_id", "file_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vector_store_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("vector_stores.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("files.id", ondelete="CASCADE"), index=True
    )
    batch_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("vector_store_file_batches.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True)
    last_error: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    chunking_strategy: Mapped[dict[str, Any]] = mapped_column(JSON)
    usage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)


class VectorStoreChunk(Base):
    """One chunk of an ingested file: its text, where it is in the extracted text
    (character offsets), and its embedding (float32 bytes, L2-normalised). The full-text
    index over ``text`` is FTS5 on SQLite and a ``tsvector`` on PostgreSQL, where a
    pgvector copy of the embedding is kept too (the migration adds both)."""

    __tablename__ = "vector_store_chunks"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    vector_store_id: Mapped[str] = mapped_column(String(64), index=True)
    file_row_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("vector_store_files.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


# --- Responses and Conversations (migration 0005) ---------------------------------------


class StoredResponse(Leased, Base):
    """``client.responses``: a response created with ``store: true`` (or in the
    background). ``request`` is the body as sent; ``input_items`` its input as items with
    ids; ``response`` the ``Response`` object as last written (``queued`` and
    ``in_progress`` snapshots for background work, then the final one, written in the
    same transaction as the items it appends to a conversation). Background responses
    are leased work (``hearth.jobs``)."""

    __tablename__ = "responses"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    """queued | in_progress | completed | incomplete | failed | cancelled"""
    background: Mapped[bool] = mapped_column(default=False)
    previous_response_id: Mapped[str | None] = mapped_column(String(64), default=None)
    conversation_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    input_items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)


class Conversation(Base):
    """``client.conversations``: a durable list of items that responses append to."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    metadata_: Mapped[dict[str, str] | None] = mapped_column("metadata", JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class ConversationItem(Base):
    """One item of a conversation (a message, function call, output, tool call...), the
    JSON as the API returns it; ``item_id`` is its id on the wire, unique within the
    conversation."""

    __tablename__ = "conversation_items"
    __table_args__ = (UniqueConstraint("conversation_id", "item_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str] = mapped_column(String(64))
    item: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


# --- Containers (migration 0006) ------------------------------------------------------


class Container(Base):
    """``client.containers``: a code interpreter container. Its files and kernel live in
    a sandbox (``hearth.sandbox``) on the process named by ``replica``, which exists only
    while ``status`` is ``running``; ``expired`` once idle for ``expires_after_minutes``
    since ``last_active_at`` (or when the server that ran it stopped)."""

    __tablename__ = "containers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), index=True)
    """running | expired"""
    memory_limit: Mapped[str] = mapped_column(String(8))
    network_policy: Mapped[str] = mapped_column(String(16), default="disabled")
    expires_after_minutes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    last_active_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    replica: Mapped[str | None] = mapped_column(String(32), default=None)
    """The id of the ``hearth serve`` process holding the sandboxes
    (``hearth.services.container_hosts``); None for rows from before replicas were
    recorded."""


class ContainerFile(Base):
    """``containers.files``: a file in a container's ``/mnt/data`` (``path`` as the code
    sees it, one row per path), uploaded (``source`` ``user``) or written by code
    (``assistant``). ``modified`` is the sandbox's mtime when last seen, so a rewrite of
    the same size still counts as a change. The bytes live in the sandbox only."""

    __tablename__ = "container_files"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    container_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("containers.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    modified: Mapped[float] = mapped_column(Float)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


# --- Assistants (migration 0007) -------------------------------------------------------


class Assistant(Base):
    """``client.beta.assistants``: ``object`` is the ``Assistant`` as the API returns it;
    ``gpt`` its GPT actions as Hearth calls them (``{"actions": [{"openapi", "auth"}]}``,
    credentials encrypted; null without actions), never shown."""

    __tablename__ = "assistants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    object: Mapped[dict[str, Any]] = mapped_column(JSON)
    gpt: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class Thread(Base):
    """``client.beta.threads``: ``object`` is the ``Thread`` as the API returns it;
    ``container_id`` the code interpreter container its runs use (set by the first run
    that needs one). Deleting a thread deletes its messages, runs and run steps."""

    __tablename__ = "threads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    object: Mapped[dict[str, Any]] = mapped_column(JSON)
    container_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class ThreadMessage(Base):
    """``threads.messages``: ``object`` is the ``Message`` as the API returns it;
    ``run_id`` is its ``run_id`` again, for the list filter (PostgreSQL's JSON operators
    fail on a whole row whose text holds ``\u0000``)."""

    __tablename__ = "thread_messages"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("threads.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    object: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class Run(Leased, Base):
    """``threads.runs``: an assistant answering a thread, executed in the background under
    a lease. ``object`` is the ``Run`` as last written, ``request`` the create body as
    sent, ``items`` the Responses items a run waiting for tool outputs continues from."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    thread_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("threads.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[str] = mapped_column(String(64))
    assistant_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24), index=True)
    """queued | in_progress | requires_action | cancelling | cancelled | failed |
    completed | incomplete | expired"""
    object: Mapped[dict[str, Any]] = mapped_column(JSON)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)


class RunStep(Base):
    """``threads.runs.steps``: ``object`` is the ``RunStep`` as the API returns it."""

    __tablename__ = "run_steps"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.id", ondelete="CASCADE"), index=True
    )
    thread_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    object: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class UsageRecord(Base):
    """One billable call, as ``/v1/organization/usage/*`` and ``/costs`` count it: what
    ``kind`` of work, for which project, key and model, and its units. A row is one model
    request (``num_model_requests``); unused unit columns stay 0."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    api_key_id: Mapped[str | None] = mapped_column(String(64), default=None)
    """None for background work (eval runs, fine-tuning jobs, assistants runs)."""
    kind: Mapped[str] = mapped_column(String(32))
    """completions | embeddings | moderations | audio_speeches | audio_transcriptions |
    images | code_interpreter_sessions"""
    model: Mapped[str] = mapped_column(String(256))
    batch: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    input_cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    input_audio_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_audio_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    characters: Mapped[int] = mapped_column(BigInteger, default=0)
    """audio_speeches: input characters."""
    seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    """audio_transcriptions: seconds of audio, rounded up."""
    images: Mapped[int] = mapped_column(BigInteger, default=0)
    sessions: Mapped[int] = mapped_column(BigInteger, default=0)
    """code_interpreter_sessions: containers started."""

    __table_args__ = (Index("ix_usage_records_org_time", "organization_id", "created_at"),)


UNMAPPED = {
    ("table", "vector_store_chunks_fts"),
    ("column", "embedding_vec"),
    ("column", "tsv"),
    ("index", "ix_vector_store_chunks_tsv"),
}
"""Schema the migrations create outside these models (full-text and vector indexes
that differ per database); autogenerate and the migration check leave them alone."""


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name`` hook: False for ``UNMAPPED`` schema (FTS5's shadow
    tables included)."""
    if type_ == "table" and name and name.startswith("vector_store_chunks_fts"):
        return False
    return (type_, name) not in UNMAPPED


_last_seq = 0
_seq_lock = threading.Lock()


def next_seq() -> int:
    """A strictly increasing int64 (ns since the epoch, bumped past the last one), the
    creation order used by every list endpoint."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


# --- The Admin API (migration 0009) ---------------------------------------------------
# Organization users, invites, admin keys, service accounts, project rate limits and the
# audit log (``hearth.store.admin``, ``docs/admin.md``).


class OrganizationUser(Base):
    """``organization.user``: a member of an organization (its owner exists from the
    first start); ``role`` is ``owner`` or ``reader``."""

    __tablename__ = "organization_users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True, default=lambda: next_seq())


class Invite(Base):
    """``organization.invite``: recorded, never emailed; ``projects`` as sent."""

    __tablename__ = "organization_invites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    projects: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(BigInteger, index=True, default=lambda: next_seq())


class AdminApiKey(Base):
    """``organization.admin_api_key``: a key of the Admin API (``sk-admin-...``), owned
    by an organization user. Only the sha256 hex digest of the secret is stored."""

    __tablename__ = "admin_api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organization_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    redacted_value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    seq: Mapped[int] = mapped_column(BigInteger, index=True, default=lambda: next_seq())


class ServiceAccount(Base):
    """``organization.project.service_account``: a bot member of a project owning API
    keys (``ApiKey.service_account_id``); deleting it deletes its keys."""

    __tablename__ = "service_accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    seq: Mapped[int] = mapped_column(BigInteger, index=True, default=lambda: next_seq())


class ProjectRateLimitRow(Base):
    """A project's own limits for one model (``project.rate_limit``); a model without a
    row has the server's defaults."""

    __tablename__ = "project_rate_limits"

    project_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(256), primary_key=True)
    max_requests_per_1_minute: Mapped[int] = mapped_column(BigInteger)
    max_tokens_per_1_minute: Mapped[int] = mapped_column(BigInteger)
    max_requests_per_1_day: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_images_per_1_minute: Mapped[int | None] = mapped_column(BigInteger, default=None)
    max_audio_megabytes_per_1_minute: Mapped[int | None] = mapped_column(BigInteger, default=None)
    batch_1_day_max_input_tokens: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AuditLog(Base):
    """One audit log entry (``/v1/organization/audit_logs``): an admin write, who made
    it (``actor_key_id``, the admin key) and its event object (``details``, shaped as
    OpenAI's entry under the ``type`` key). Kept when its project is gone."""

    __tablename__ = "audit_logs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[int] = mapped_column(BigInteger, default=now_unix)
    actor_key_id: Mapped[str] = mapped_column(String(64))
    actor_user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    project_id: Mapped[str | None] = mapped_column(String(64), default=None)
    project_name: Mapped[str | None] = mapped_column(String(256), default=None)
    resource_id: Mapped[str | None] = mapped_column(String(64), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    seq: Mapped[int] = mapped_column(BigInteger, default=lambda: next_seq())

    __table_args__ = (Index("ix_audit_logs_org_seq", "organization_id", "seq"),)
