"""``client.files`` (OpenAI API reference: Files): upload, list, retrieve, content, delete.

Bytes live in the ``BlobStore`` (``<data_dir>/blobs``), metadata in the ``files`` table.
A blob is written completely before its row, and a row is deleted before its blob, so a
row always names whole bytes (a crash can at worst leave an orphan blob). Files are
scoped to a project: another project's file id is "not found", never visible. A file
past its ``expires_at`` behaves as deleted; its row and blob are removed lazily (on the
next create/list in its project, or when it is looked up).

Objects are returned as OpenAI JSON: ``FileObject`` ``{"id": "file-<24 alnum>",
"object": "file", "bytes", "created_at", "expires_at", "filename", "purpose",
"status": "processed", "status_details": null}`` and ``FileDeleted``
``{"id", "object": "file", "deleted": true}``. Everything but ``create`` is synchronous
(database and disk); async callers run it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Settings
from hearth.errors import InvalidRequest, NotFound
from hearth.store.blobs import BlobStore
from hearth.store.ids import new_id
from hearth.store.models import StoredFile, next_seq, now_unix
from hearth.store.pages import Order, check_limit, list_body, paginate

Purpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
UPLOAD_PURPOSES: tuple[str, ...] = ("assistants", "batch", "fine-tune", "vision",
                                    "user_data", "evals")
"""Purposes a client may upload with (``FilePurpose``)."""
OUTPUT_PURPOSES: tuple[str, ...] = ("assistants_output", "batch_output", "fine-tune-results")
"""Purposes only the server creates (``create_bytes``), e.g. fine-tuning result files."""

BATCH_DEFAULT_TTL = 30 * 24 * 3600
"""``batch`` files expire after 30 days unless ``expires_after`` says otherwise."""
MAX_LIST_LIMIT = 10_000
_SWEEP_BATCH = 100  # expired rows removed per lazy sweep


class ExpiresAfter(BaseModel):
    """``expires_after``: ``{"anchor": "created_at", "seconds": 3600..2592000}``."""

    model_config = ConfigDict(extra="forbid")

    anchor: Literal["created_at"]
    seconds: int = Field(ge=3600, le=2_592_000)


class CreateParams(BaseModel):
    """Form fields of ``POST /v1/files`` besides ``file`` (values arrive as strings and
    are converted, as form data must be)."""

    model_config = ConfigDict(extra="allow")

    purpose: Purpose
    expires_after: ExpiresAfter | None = None


class ListParams(BaseModel):
    """Query of ``GET /v1/files``: ``purpose`` (exact), ``after``, ``limit`` (1..10000,
    default 10000), ``order`` (``desc`` by default)."""

    model_config = ConfigDict(extra="ignore")

    purpose: str | None = None
    after: str | None = None
    limit: int = MAX_LIST_LIMIT
    order: Order = "desc"


def _object(row: StoredFile) -> dict[str, Any]:
    return {"id": row.id, "object": "file", "bytes": row.bytes, "created_at": row.created_at,
            "expires_at": row.expires_at, "filename": row.filename, "purpose": row.purpose,
            "status": row.status, "status_details": row.status_details}


def _not_found(file_id: str, param: str = "file_id") -> NotFound:
    return NotFound(f"No such File object: {file_id}", param=param)


def _expires_at(created_at: int, purpose: str, expires_after: dict[str, Any] | None,
                ) -> int | None:
    if expires_after is not None:
        try:
            return created_at + ExpiresAfter.model_validate(expires_after).seconds
        except ValidationError as exc:
            first = exc.errors()[0]
            param = ".".join(["expires_after", *map(str, first["loc"])])
            raise InvalidRequest(f"Invalid '{param}': {first['msg']}.", param=param) from None
    return created_at + BATCH_DEFAULT_TTL if purpose == "batch" else None


def _check_purpose(purpose: str, allowed: tuple[str, ...]) -> None:
    if purpose not in allowed:
        choices = ", ".join(f"'{p}'" for p in allowed)
        raise InvalidRequest(f"Invalid value: '{purpose}'. 'purpose' must be one of "
                             f"{choices}.", param="purpose", code="invalid_value")


class Files:
    """Upload, list, retrieve, content, delete; bytes in ``BlobStore``, rows in ``files``."""

    def __init__(self, sessions: sessionmaker[Session], blobs: BlobStore,
                 settings: Settings) -> None:
        self._sessions = sessions
        self.blobs = blobs
        self._max_bytes = int(settings.max_file_mb * 1_000_000)

    @property
    def max_bytes(self) -> int:
        """Largest upload in bytes (``max_file_mb``)."""
        return self._max_bytes

    async def create(self, project_id: str, filename: str, chunks: AsyncIterator[bytes],
                     purpose: str, expires_after: dict[str, Any] | None) -> dict[str, Any]:
        """Store ``chunks`` as a new file; returns its ``FileObject``.

        ``purpose``: one of ``UPLOAD_PURPOSES``; ``expires_after``: ``{"anchor":
        "created_at", "seconds": 3600..2592000}`` or None (``batch``: 30 days, others:
        never). Raises ``InvalidRequest`` (400, ``param`` ``purpose`` or
        ``expires_after.*``) before reading any bytes, and
        ``PayloadTooLarge`` (413, nothing kept) beyond ``max_file_mb``.
        """
        _check_purpose(purpose, UPLOAD_PURPOSES)
        _expires_at(0, purpose, expires_after)  # validates before the bytes are read
        key, size = await self.blobs.put_stream(chunks, self._max_bytes)
        try:
            return await asyncio.to_thread(self._insert, project_id, filename, purpose, key,
                                           size, expires_after)
        except BaseException:
            self.blobs.delete(key)
            raise

    def create_bytes(self, project_id: str, filename: str, data: bytes, purpose: str,
                     ) -> dict[str, Any]:
        """Store server-made bytes (e.g. a fine-tuning results file) as a file of the
        project; ``purpose`` may also be one of ``OUTPUT_PURPOSES``. No size limit, no
        expiry. Returns the ``FileObject``; ``InvalidRequest`` for an unknown purpose."""
        _check_purpose(purpose, UPLOAD_PURPOSES + OUTPUT_PURPOSES)
        key, size = self.blobs.put([data])
        try:
            return self._insert(project_id, filename, purpose, key, size, None)
        except BaseException:
            self.blobs.delete(key)
            raise

    def _insert(self, project_id: str, filename: str, purpose: str, key: str, size: int,
                expires_after: dict[str, Any] | None) -> dict[str, Any]:
        created_at = now_unix()
        row = StoredFile(id=new_id("file-"), project_id=project_id, filename=filename,
                         purpose=purpose, bytes=size, blob_key=key, status="processed",
                         status_details=None, created_at=created_at,
                         expires_at=_expires_at(created_at, purpose, expires_after),
                         seq=next_seq())
        with self._sessions.begin() as session:
            session.add(row)
        self._sweep(project_id)
        return _object(row)

    def list(self, project_id: str, *, purpose: str | None = None, after: str | None = None,
             limit: int = MAX_LIST_LIMIT, order: Order = "desc") -> dict[str, Any]:
        """The project's live files, newest first by default: ``{"object": "list", "data":
        [FileObject], "first_id", "last_id", "has_more"}``. ``purpose`` filters exactly;
        ``after`` is the last id of the previous page. ``InvalidRequest`` for a ``limit``
        outside 1..10000, a bad ``order`` or an unknown ``after``."""
        check_limit(limit, MAX_LIST_LIMIT)
        self._sweep(project_id)
        stmt = select(StoredFile).where(StoredFile.project_id == project_id,
                                        _live(now_unix()))
        if purpose is not None:
            stmt = stmt.where(StoredFile.purpose == purpose)
        with self._sessions() as session:
            page = paginate(session, stmt, StoredFile, after=after, limit=limit, order=order)
        return list_body([_object(row) for row in page.items], page.has_more)

    def retrieve(self, project_id: str, file_id: str) -> dict[str, Any]:
        """The ``FileObject``; ``NotFound`` (404) if it is not the project's or expired."""
        return _object(self._row(project_id, file_id))

    def delete(self, project_id: str, file_id: str) -> dict[str, Any]:
        """Delete the row, then its bytes; ``FileDeleted``. ``NotFound`` as ``retrieve``."""
        with self._sessions.begin() as session:
            row = session.scalar(_one(project_id, file_id, now_unix()))
            if row is None:
                raise _not_found(file_id)
            session.delete(row)
        self.blobs.delete(row.blob_key)
        return {"id": file_id, "object": "file", "deleted": True}

    def open(self, project_id: str, file_id: str) -> tuple[dict[str, Any], BinaryIO]:
        """The ``FileObject`` and its bytes opened for reading (the caller closes it; a
        delete meanwhile does not cut the read short). ``NotFound`` as ``retrieve``."""
        row = self._row(project_id, file_id)
        try:
            return _object(row), self.blobs.path(row.blob_key).open("rb")
        except FileNotFoundError:  # deleted between the lookup and the open
            raise _not_found(file_id) from None

    def content(self, project_id: str, file_id: str) -> bytes:
        """All of the file's bytes. ``NotFound`` as ``retrieve``."""
        return self.read(project_id, file_id, purposes=None, param="file_id")[1]

    def read(self, project_id: str, file_id: str, *, purposes: tuple[str, ...] | None,
             param: str) -> tuple[dict[str, Any], bytes]:
        """``(FileObject, bytes)`` of a file another request names in ``param`` (e.g.
        ``training_file``). ``NotFound`` (404, ``param``) if the project has no such live
        file; ``InvalidRequest`` (400, ``param``) if ``purposes`` is given and the file's
        purpose is not among them."""
        try:
            obj, fh = self.open(project_id, file_id)
        except NotFound:
            raise _not_found(file_id, param) from None
        with fh:
            if purposes is not None and obj["purpose"] not in purposes:
                wanted = " or ".join(f"'{p}'" for p in purposes)
                raise InvalidRequest(f"File {file_id} has purpose '{obj['purpose']}', but "
                                     f"{wanted} is required for '{param}'.", param=param,
                                     code="invalid_file_purpose")
            return obj, fh.read()

    def _row(self, project_id: str, file_id: str) -> StoredFile:
        with self._sessions() as session:
            row = session.scalar(select(StoredFile).where(StoredFile.id == file_id,
                                                          StoredFile.project_id == project_id))
        if row is None:
            raise _not_found(file_id)
        if row.expires_at is not None and row.expires_at <= now_unix():
            self._sweep(project_id)
            raise _not_found(file_id)
        return row

    def _sweep(self, project_id: str) -> None:
        """Remove a batch of the project's expired files (rows first, then blobs)."""
        with self._sessions.begin() as session:
            rows = list(session.execute(
                select(StoredFile.id, StoredFile.blob_key)
                .where(StoredFile.project_id == project_id,
                       StoredFile.expires_at <= now_unix())
                .limit(_SWEEP_BATCH)))
            if rows:
                session.execute(delete(StoredFile).where(
                    StoredFile.id.in_([r.id for r in rows])))
        for r in rows:
            self.blobs.delete(r.blob_key)


def _live(now: int) -> Any:
    return or_(StoredFile.expires_at.is_(None), StoredFile.expires_at > now)


def _one(project_id: str, file_id: str, now: int) -> Any:
    return select(StoredFile).where(StoredFile.id == file_id,
                                    StoredFile.project_id == project_id, _live(now))
