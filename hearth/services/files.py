"""``client.files`` (OpenAI API reference: Files): upload, list, retrieve, content, delete.

Bytes live in the ``BlobStore`` (``<data_dir>/blobs``), metadata in the ``files`` table
(``FileRepository``). A blob is written completely before its row, and a row is deleted
before its blob, so a row always names whole bytes (a crash can at worst leave an orphan
blob). Files are scoped to the caller's project: another project's file id is "not
found", never visible. A file past its ``expires_at`` behaves as deleted; its row and blob
are removed lazily (on the next create/list in its project, or when it is looked up).

Objects are the SDK's ``FileObject`` (``{"id": "file-<24 alnum>", "object": "file",
"bytes", "created_at", "expires_at", "filename", "purpose", "status": "processed",
"status_details": null}``), ``FileDeleted`` and ``CursorPage[FileObject]``. Every method
is async; database and disk work runs on a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterator
from typing import BinaryIO, Literal

from openai.types import FileDeleted, FileObject
from pydantic import BaseModel, ConfigDict, Field

from hearth.config import StorageSettings
from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import InvalidRequest, NotFound
from hearth.store.blobs import BlobStore
from hearth.store.files import FileRepository
from hearth.store.models import StoredFile, now_unix

Purpose = Literal["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
UPLOAD_PURPOSES: tuple[str, ...] = (
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
)
"""Purposes a client may upload with (``FilePurpose``)."""
OUTPUT_PURPOSES: tuple[str, ...] = ("assistants_output", "batch_output", "fine-tune-results")
"""Purposes only the server creates (``create_bytes``), e.g. fine-tuning result files."""

BATCH_DEFAULT_TTL = 30 * 24 * 3600
"""``batch`` files expire after 30 days unless ``expires_after`` says otherwise."""
_SWEEP_BATCH = 100  # expired rows removed per lazy sweep
_CHUNK = 1 << 20  # bytes per read of a blob being streamed


class ExpiresAfter(BaseModel):
    """``expires_after``: ``{"anchor": "created_at", "seconds": 3600..2592000}``."""

    model_config = ConfigDict(extra="forbid")

    anchor: Literal["created_at"]
    seconds: int = Field(ge=3600, le=2_592_000)


class CreateParams(BaseModel):
    """Form fields of ``POST /v1/files`` besides ``file`` (values arrive as strings and
    are converted, as form data must be; ``expires_after[seconds]`` nested)."""

    model_config = ConfigDict(extra="allow")

    purpose: Purpose
    expires_after: ExpiresAfter | None = None


def _object(row: StoredFile) -> FileObject:
    obj = FileObject.model_validate(
        {
            "id": row.id,
            "object": "file",
            "bytes": row.bytes,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
            "filename": row.filename,
            "purpose": "user_data",
            "status": row.status,
            "status_details": row.status_details,
        }
    )
    # FileObject's purpose Literal lags the upload purposes (no "evals", which the SDK's
    # FilePurpose has): the rest is validated, the stored purpose set as it is
    obj.purpose = row.purpose  # type: ignore[assignment]
    return obj


def _not_found(file_id: str, param: str = "file_id") -> NotFound:
    return NotFound(f"No such File object: {file_id}", param=param)


def _check_purpose(purpose: str, allowed: tuple[str, ...]) -> None:
    if purpose not in allowed:
        choices = ", ".join(f"'{p}'" for p in allowed)
        raise InvalidRequest(
            f"Invalid value: '{purpose}'. 'purpose' must be one of {choices}.",
            param="purpose",
            code="invalid_value",
        )


def _read_all(fh: BinaryIO) -> Iterator[bytes]:
    with fh:
        while chunk := fh.read(_CHUNK):
            yield chunk


class Files:
    """Upload, list, retrieve, content, delete; bytes in ``BlobStore``, rows in
    ``FileRepository``."""

    def __init__(self, repo: FileRepository, blobs: BlobStore, storage: StorageSettings) -> None:
        self._repo = repo
        self.blobs = blobs
        self._max_bytes = int(storage.max_file_mb * 1_000_000)

    @property
    def max_bytes(self) -> int:
        """Largest upload in bytes (``max_file_mb``)."""
        return self._max_bytes

    async def create(
        self, caller: Principal, params: CreateParams, filename: str, chunks: AsyncIterable[bytes]
    ) -> FileObject:
        """Store ``chunks`` (the uploaded file, streamed) as a new file of the caller's
        project. Expiry: ``params.expires_after`` or, without one, 30 days for ``batch``
        and never for other purposes. ``PayloadTooLarge`` (413, nothing kept) beyond
        ``max_file_mb``."""
        key, size = await self.blobs.put_stream(chunks, self._max_bytes)
        seconds = params.expires_after.seconds if params.expires_after else None
        return await self._insert(caller, filename or "upload", params.purpose, key, size, seconds)

    async def create_bytes(
        self, caller: Principal, filename: str, data: bytes, purpose: str
    ) -> FileObject:
        """Store server-made bytes (e.g. a fine-tuning results file) as a file of the
        caller's project; ``purpose`` may also be one of ``OUTPUT_PURPOSES``. No size
        limit; expiry as ``create`` without ``expires_after``. ``InvalidRequest`` (400,
        ``purpose``) for an unknown purpose."""
        _check_purpose(purpose, UPLOAD_PURPOSES + OUTPUT_PURPOSES)
        key, size = await asyncio.to_thread(self.blobs.put, [data])
        return await self._insert(caller, filename, purpose, key, size, None)

    async def _insert(
        self,
        caller: Principal,
        filename: str,
        purpose: str,
        key: str,
        size: int,
        expires_in: int | None,
    ) -> FileObject:
        def insert() -> StoredFile:
            created_at = now_unix()
            if expires_in is None and purpose == "batch":
                expires_at: int | None = created_at + BATCH_DEFAULT_TTL
            else:
                expires_at = None if expires_in is None else created_at + expires_in
            try:
                row = self._repo.insert(
                    caller.project_id,
                    filename=filename,
                    purpose=purpose,
                    blob_key=key,
                    size=size,
                    created_at=created_at,
                    expires_at=expires_at,
                )
            except BaseException:  # no row names the blob
                self.blobs.delete(key)
                raise
            self._sweep(caller.project_id)
            return row

        return _object(await asyncio.to_thread(insert))

    async def list(
        self, caller: Principal, page: PageParams, *, purpose: str | None = None
    ) -> CursorPage[FileObject]:
        """The project's live files (OpenAI's defaults: up to 10,000, newest first);
        ``purpose`` filters exactly. ``InvalidRequest`` for a cursor that is not one of
        them."""

        def rows() -> CursorPage[FileObject]:
            self._sweep(caller.project_id)
            return self._repo.page(caller.project_id, page, purpose=purpose, now=now_unix()).to(
                _object
            )

        return await asyncio.to_thread(rows)

    async def retrieve(self, caller: Principal, file_id: str) -> FileObject:
        """The ``FileObject``; ``NotFound`` (404) if it is not the project's or expired."""
        return _object(await asyncio.to_thread(self._row, caller.project_id, file_id))

    async def delete(self, caller: Principal, file_id: str) -> FileDeleted:
        """Delete the row, then its bytes. ``NotFound`` as ``retrieve``."""
        row = await asyncio.to_thread(self._repo.delete, caller.project_id, file_id, now=now_unix())
        if row is None:
            raise _not_found(file_id)
        await asyncio.to_thread(self.blobs.delete, row.blob_key)
        return FileDeleted(id=file_id, object="file", deleted=True)

    async def content(
        self,
        caller: Principal,
        file_id: str,
    ) -> tuple[FileObject, Iterator[bytes]]:
        """The ``FileObject`` and its bytes as a (sync, blocking) iterator of chunks over
        the opened blob, closed when the iterator is exhausted or closed; a delete
        meanwhile does not cut the read short. ``NotFound`` as ``retrieve``."""
        obj, fh = await asyncio.to_thread(self._open, caller.project_id, file_id, "file_id")
        return obj, _read_all(fh)

    async def read(
        self, caller: Principal, file_id: str, *, purposes: tuple[str, ...] | None, param: str
    ) -> tuple[FileObject, bytes]:
        """``(FileObject, bytes)`` of a file another request names in ``param`` (e.g.
        ``training_file``). ``NotFound`` (404, ``param``) if the project has no such live
        file; ``InvalidRequest`` (400, ``param``, code ``invalid_file_purpose``) if
        ``purposes`` is given and the file's purpose is not among them."""

        def read() -> tuple[FileObject, bytes]:
            obj, fh = self._open(caller.project_id, file_id, param)
            with fh:
                if purposes is not None and obj.purpose not in purposes:
                    wanted = " or ".join(f"'{p}'" for p in purposes)
                    raise InvalidRequest(
                        f"File {file_id} has purpose '{obj.purpose}', but "
                        f"{wanted} is required for '{param}'.",
                        param=param,
                        code="invalid_file_purpose",
                    )
                return obj, fh.read()

        return await asyncio.to_thread(read)

    def _open(self, project_id: str, file_id: str, param: str) -> tuple[FileObject, BinaryIO]:
        try:
            row = self._row(project_id, file_id)
            return _object(row), self.blobs.path(row.blob_key).open("rb")
        except (NotFound, FileNotFoundError):  # FileNotFoundError: deleted meanwhile
            raise _not_found(file_id, param) from None

    def exists(self, caller: Principal, file_id: str) -> bool:
        """Whether the project has the live file ``file_id`` (call off the loop)."""
        row = self._repo.get(caller.project_id, file_id)
        return row is not None and (row.expires_at is None or row.expires_at > now_unix())

    def _row(self, project_id: str, file_id: str) -> StoredFile:
        row = self._repo.get(project_id, file_id)
        if row is None:
            raise _not_found(file_id)
        if row.expires_at is not None and row.expires_at <= now_unix():
            self._sweep(project_id)
            raise _not_found(file_id)
        return row

    def _sweep(self, project_id: str) -> None:
        """Remove a batch of the project's expired files (rows first, then blobs)."""
        for key in self._repo.sweep_expired(project_id, now=now_unix(), limit=_SWEEP_BATCH):
            self.blobs.delete(key)
