"""``client.vector_stores`` (create / retrieve / update / list / delete / search), with
``files`` and ``file_batches``; every object is the SDK's type.

A store's ``status`` is ``expired`` once ``expires_after.days`` have passed since
``last_active_at`` (searching or adding files keeps it active), else ``in_progress``
while any file is, else ``completed``. An expired store still answers ``retrieve``,
``list`` and ``delete``; searching it or adding files is a 400.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable, Sequence
from typing import Any

from openai.types import VectorStore as VectorStoreObject
from openai.types import VectorStoreDeleted, VectorStoreSearchResponse
from openai.types.vector_stores import (
    FileContentResponse,
    VectorStoreFileDeleted,
)
from openai.types.vector_stores import (
    VectorStoreFile as VectorStoreFileObject,
)
from openai.types.vector_stores import (
    VectorStoreFileBatch as VectorStoreFileBatchObject,
)
from pydantic import BaseModel

from hearth.config import RetrievalSettings
from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import InvalidRequest, NotFound, ServiceUnavailable
from hearth.jobs.runner import JobRunner
from hearth.retrieval.embeddings import EmbeddingRegistry
from hearth.services.files import Files
from hearth.services.vector_stores.ingest import IngestWork
from hearth.services.vector_stores.params import (
    BatchCreateParams,
    CreateParams,
    FileCreateParams,
    FileUpdateParams,
    SearchParams,
    UpdateParams,
    resolved,
)
from hearth.services.vector_stores.search import FileSearch, SearchHit, rewrite
from hearth.store.models import VectorStore, VectorStoreFile, VectorStoreFileBatch
from hearth.store.vector_stores import VectorStoreRepository

DAY = 86_400


class SearchPage(BaseModel):
    """``vector_stores.search``'s body (the SDK reads ``data`` as a ``SyncPage``)."""

    object: str = "vector_store.search_results.page"
    search_query: list[str]
    data: list[VectorStoreSearchResponse]
    has_more: bool = False
    next_page: str | None = None


class ContentPage(BaseModel):
    """``vector_stores.files.content``'s body: the file's chunks as text parts."""

    object: str = "vector_store.file_content.page"
    data: list[FileContentResponse]
    has_more: bool = False
    next_page: str | None = None


def expires_at(row: VectorStore) -> int | None:
    """When the store expires (Unix s), or None without ``expires_after``."""
    if not row.expires_after:
        return None
    return int(row.last_active_at) + int(row.expires_after["days"]) * DAY


def _store_object(
    row: VectorStore, counts: dict[str, int], usage: int, now: int
) -> VectorStoreObject:
    expiry = expires_at(row)
    status = (
        "expired"
        if expiry is not None and expiry <= now
        else ("in_progress" if counts["in_progress"] else "completed")
    )
    optional: dict[str, Any] = {"expires_after": row.expires_after} if row.expires_after else {}
    return VectorStoreObject(
        **optional,  # an object when set, absent otherwise (OpenAI's schema: never null)
        id=row.id,
        object="vector_store",
        created_at=row.created_at,
        name=row.name,
        usage_bytes=usage,
        file_counts=counts,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        expires_at=expiry,
        last_active_at=row.last_active_at,
        metadata=row.metadata_ or {},
    )


def _file_object(row: VectorStoreFile) -> VectorStoreFileObject:
    return VectorStoreFileObject(
        id=row.file_id,
        object="vector_store.file",
        created_at=row.created_at,
        vector_store_id=row.vector_store_id,
        status=row.status,  # type: ignore[arg-type]
        usage_bytes=row.usage_bytes,
        last_error=row.last_error,  # type: ignore[arg-type]
        attributes=row.attributes or {},
        chunking_strategy=row.chunking_strategy,  # type: ignore[arg-type]
    )


def _batch_object(row: VectorStoreFileBatch, counts: dict[str, int]) -> VectorStoreFileBatchObject:
    if row.cancelled:
        status = "cancelled"
    elif counts["in_progress"]:
        status = "in_progress"
    elif counts["total"] and counts["failed"] == counts["total"]:
        status = "failed"
    else:
        status = "completed"
    return VectorStoreFileBatchObject(
        id=row.id,
        object="vector_store.files_batch",
        created_at=row.created_at,
        vector_store_id=row.vector_store_id,
        status=status,  # type: ignore[arg-type]
        file_counts=counts,  # type: ignore[arg-type]
    )


class VectorStores:
    """Vector stores of the caller's project; ``files`` and ``file_batches`` below them.
    ``start`` / ``stop`` run the ingestion runner."""

    def __init__(
        self,
        repo: VectorStoreRepository,
        files: Files,
        embeddings: EmbeddingRegistry,
        settings: RetrievalSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._files = files
        self._embeddings = embeddings
        self._clock = clock
        self.work = IngestWork(repo, files, embeddings)
        self.runner = JobRunner(
            repo._sessions,
            self.work,
            lease_seconds=settings.lease_seconds,
            concurrency=settings.ingest_concurrency,
        )
        self.file_search = FileSearch(repo, embeddings)
        self.files = VectorStoreFiles(self)
        self.file_batches = FileBatches(self)

    def now(self) -> int:
        return int(self._clock())

    async def start(self) -> None:
        """Start ingesting (resumes files whose lease expired: a killed server)."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop ingesting; files in progress resume on the next start."""
        await self.runner.stop()

    # helpers shared by files and batches

    def row(self, caller: Principal, store_id: str, *, usable: bool = False) -> VectorStore:
        """The caller's store (off the loop). ``NotFound``; with ``usable``, an expired
        store is a 400."""
        row = self._repo.get_store(caller.project_id, store_id)
        if row is None:
            raise NotFound(f"No vector store found with id '{store_id}'.", param="vector_store_id")
        expiry = expires_at(row)
        if usable and expiry is not None and expiry <= self.now():
            raise InvalidRequest(
                f"Vector store {store_id} is expired; create a new one.",
                param="vector_store_id",
                code="vector_store_expired",
            )
        return row

    def check_files(self, caller: Principal, file_ids: builtins.list[str], param: str) -> None:
        """Every id must be one of the caller's live files (``NotFound`` naming it)."""
        for i, file_id in enumerate(file_ids):
            if not self._files.exists(caller, file_id):
                where = param if param == "file_id" else f"{param}[{i}]"
                raise NotFound(f"No file found with id '{file_id}'.", param=where)

    async def add(
        self,
        caller: Principal,
        store: VectorStore,
        items: Sequence[tuple[str, dict[str, Any] | None, dict[str, Any]]],
        *,
        batch: bool,
        param: str,
    ) -> tuple[builtins.list[VectorStoreFile], str | None]:
        await asyncio.to_thread(self.check_files, caller, [f for f, _, _ in items], param)
        rows, batch_id = await asyncio.to_thread(
            self._repo.add_files, store.id, items, batch=batch, now=self.now()
        )
        self.runner.wake()
        return rows, batch_id

    def object(self, row: VectorStore) -> VectorStoreObject:
        counts, usage = self._repo.store_counts([row.id])[row.id]
        return _store_object(row, counts, usage, self.now())

    # client.vector_stores

    async def create(self, caller: Principal, params: CreateParams) -> VectorStoreObject:
        """A new store; its ``file_ids`` start ingesting at once. ``NotFound`` for a file
        the project does not have; 503 without an embedding model."""
        engine = self._embeddings.default
        if engine is None:
            raise ServiceUnavailable("No embedding model is served; vector stores need one.")
        if params.file_ids:
            await asyncio.to_thread(self.check_files, caller, params.file_ids, "file_ids")
        now = self.now()
        row = await asyncio.to_thread(
            self._repo.insert_store,
            caller.project_id,
            name=params.name or "",
            description=params.description,
            metadata_=params.metadata,
            embedding_model=engine.id,
            expires_after=params.expires_after.model_dump() if params.expires_after else None,
            created_at=now,
            last_active_at=now,
        )
        if params.file_ids:
            chunking = resolved(params.chunking_strategy)
            items = [(f, None, chunking) for f in params.file_ids]
            await self.add(caller, row, items, batch=False, param="file_ids")
        return await asyncio.to_thread(self.object, row)

    async def retrieve(self, caller: Principal, store_id: str) -> VectorStoreObject:
        """One store (``NotFound``)."""
        return await asyncio.to_thread(lambda: self.object(self.row(caller, store_id)))

    async def update(
        self, caller: Principal, store_id: str, params: UpdateParams
    ) -> VectorStoreObject:
        """Set the fields sent (``expires_after: null`` removes the expiry)."""

        def update() -> VectorStoreObject:
            self.row(caller, store_id)
            values: dict[str, Any] = {}
            sent = params.model_fields_set
            if "name" in sent:
                values["name"] = params.name or ""
            if "metadata" in sent:
                values["metadata_"] = params.metadata
            if "expires_after" in sent:
                values["expires_after"] = (
                    params.expires_after.model_dump() if params.expires_after else None
                )
            row = self._repo.update_store(caller.project_id, store_id, **values)
            assert row is not None
            return self.object(row)

        return await asyncio.to_thread(update)

    async def list(self, caller: Principal, page: PageParams) -> CursorPage[VectorStoreObject]:
        """A page of the project's stores."""

        def rows() -> CursorPage[VectorStoreObject]:
            found = self._repo.page_stores(caller.project_id, page)
            stats = self._repo.store_counts([r.id for r in found.items])
            now = self.now()
            return found.to(lambda r: _store_object(r, *stats[r.id], now))

        return await asyncio.to_thread(rows)

    async def delete(self, caller: Principal, store_id: str) -> VectorStoreDeleted:
        """Delete the store, its files' membership and every chunk (the files stay);
        ingestion of its files stops."""

        def delete() -> builtins.list[str]:
            self.row(caller, store_id)
            rows = [row for row, _, _, _ in self._repo.store_files([store_id])]
            self._repo.delete_store(caller.project_id, store_id)
            return rows

        for row_id in await asyncio.to_thread(delete):
            self.runner.cancel(row_id)
        return VectorStoreDeleted(id=store_id, object="vector_store.deleted", deleted=True)

    async def search(self, caller: Principal, store_id: str, params: SearchParams) -> SearchPage:
        """The store's best chunks for ``query`` (see ``FileSearch``)."""
        store = await asyncio.to_thread(self.row, caller, store_id, usable=True)
        queries = [params.query] if isinstance(params.query, str) else params.query
        if not queries or any(not q.strip() for q in queries):
            raise InvalidRequest("'query' must not be empty.", param="query")
        if params.rewrite_query:
            queries = [rewrite(q) for q in queries]
        hits = await self.search_stores([store], queries, params)
        await asyncio.to_thread(self._repo.touch, [store_id], self.now())
        return SearchPage(
            object="vector_store.search_results.page",
            search_query=queries,
            data=[_result(h) for h in hits],
            has_more=False,
            next_page=None,
        )

    async def search_stores(
        self, stores: builtins.list[VectorStore], queries: builtins.list[str], params: SearchParams
    ) -> builtins.list[SearchHit]:
        """``FileSearch`` over stores already checked to be the caller's."""
        ranking = params.ranking_options
        hybrid = ranking.hybrid_search if ranking else None
        models = {s.embedding_model for s in stores}
        hits: builtins.list[SearchHit] = []
        for model in sorted(models):
            hits += await self.file_search.search(
                [s.id for s in stores if s.embedding_model == model],
                model,
                queries,
                filters=params.filters,
                max_num_results=params.max_num_results,
                score_threshold=ranking.score_threshold if ranking else 0.0,
                embedding_weight=hybrid.embedding_weight if hybrid else 1.0,
                text_weight=hybrid.text_weight if hybrid else 1.0,
            )
        hits.sort(key=lambda h: -h.score)
        return hits[: params.max_num_results]


def _result(hit: SearchHit) -> VectorStoreSearchResponse:
    return VectorStoreSearchResponse(
        file_id=hit.file_id,
        filename=hit.filename,
        score=hit.score,
        attributes=hit.attributes or {},
        content=[{"type": "text", "text": hit.text}],  # type: ignore[list-item]
    )


class VectorStoreFiles:
    """``client.vector_stores.files``."""

    def __init__(self, stores: VectorStores) -> None:
        self._stores = stores
        self._repo = stores._repo

    async def create(
        self, caller: Principal, store_id: str, params: FileCreateParams
    ) -> VectorStoreFileObject:
        """Add a file (ingested in the background: poll until not ``in_progress``)."""
        store = await asyncio.to_thread(self._stores.row, caller, store_id, usable=True)
        item = (params.file_id, params.attributes, resolved(params.chunking_strategy))
        rows, _ = await self._stores.add(caller, store, [item], batch=False, param="file_id")
        return _file_object(rows[0])

    async def retrieve(
        self, caller: Principal, store_id: str, file_id: str
    ) -> VectorStoreFileObject:
        """One file of the store (``NotFound``)."""
        return _file_object(await asyncio.to_thread(self._row, caller, store_id, file_id))

    def _row(self, caller: Principal, store_id: str, file_id: str) -> VectorStoreFile:
        self._stores.row(caller, store_id)
        row = self._repo.get_file(store_id, file_id)
        if row is None:
            raise NotFound(
                f"No file found with id '{file_id}' in vector store '{store_id}'.",
                param="file_id",
            )
        return row

    async def list(
        self, caller: Principal, store_id: str, page: PageParams, *, status: str | None
    ) -> CursorPage[VectorStoreFileObject]:
        """A page of the store's files, ``filter`` by status."""

        def rows() -> CursorPage[VectorStoreFileObject]:
            self._stores.row(caller, store_id)
            return self._repo.page_files(store_id, page, status=status).to(_file_object)

        return await asyncio.to_thread(rows)

    async def update(
        self, caller: Principal, store_id: str, file_id: str, params: FileUpdateParams
    ) -> VectorStoreFileObject:
        """Replace the file's ``attributes`` (search filters see them at once)."""

        def update() -> VectorStoreFileObject:
            self._row(caller, store_id, file_id)
            row = self._repo.update_attributes(store_id, file_id, params.attributes)
            assert row is not None
            return _file_object(row)

        return await asyncio.to_thread(update)

    async def delete(
        self, caller: Principal, store_id: str, file_id: str
    ) -> VectorStoreFileDeleted:
        """Remove the file and its chunks from the store (the file itself stays)."""

        def delete() -> str | None:
            self._row(caller, store_id, file_id)
            return self._repo.remove_file(store_id, file_id)

        row_id = await asyncio.to_thread(delete)
        if row_id is not None:
            self._stores.runner.cancel(row_id)  # on the loop, where the runner lives
        return VectorStoreFileDeleted(id=file_id, object="vector_store.file.deleted", deleted=True)

    async def content(self, caller: Principal, store_id: str, file_id: str) -> ContentPage:
        """The file's parsed content: its chunks' text, in order (overlaps included)."""

        def content() -> ContentPage:
            row = self._row(caller, store_id, file_id)
            parts = [
                FileContentResponse(type="text", text=c.text)
                for c in self._repo.file_chunks(row.id)
            ]
            return ContentPage(
                object="vector_store.file_content.page", data=parts, has_more=False, next_page=None
            )

        return await asyncio.to_thread(content)


class FileBatches:
    """``client.vector_stores.file_batches``."""

    def __init__(self, stores: VectorStores) -> None:
        self._stores = stores
        self._repo = stores._repo

    async def create(
        self, caller: Principal, store_id: str, params: BatchCreateParams
    ) -> VectorStoreFileBatchObject:
        """Add many files at once; the batch counts them as they finish."""
        store = await asyncio.to_thread(self._stores.row, caller, store_id, usable=True)
        if params.files is not None:
            items = [
                (f.file_id, f.attributes, resolved(f.chunking_strategy or params.chunking_strategy))
                for f in params.files
            ]
            param = "files"
        else:
            chunking = resolved(params.chunking_strategy)
            items = [(f, params.attributes, chunking) for f in params.file_ids or []]
            param = "file_ids"
        _, batch_id = await self._stores.add(caller, store, items, batch=True, param=param)
        assert batch_id is not None
        return await asyncio.to_thread(self._object, caller, store_id, batch_id)

    def _object(
        self, caller: Principal, store_id: str, batch_id: str
    ) -> VectorStoreFileBatchObject:
        self._stores.row(caller, store_id)
        row = self._repo.get_batch(store_id, batch_id)
        if row is None:
            raise NotFound(f"No file batch found with id '{batch_id}'.", param="batch_id")
        return _batch_object(row, self._repo.batch_counts(batch_id))

    async def retrieve(
        self, caller: Principal, store_id: str, batch_id: str
    ) -> VectorStoreFileBatchObject:
        """One batch with its ``file_counts`` (``NotFound``)."""
        return await asyncio.to_thread(self._object, caller, store_id, batch_id)

    async def cancel(
        self, caller: Principal, store_id: str, batch_id: str
    ) -> VectorStoreFileBatchObject:
        """Stop the batch: its unfinished files end ``cancelled``."""

        def cancel() -> builtins.list[str]:
            self._object(caller, store_id, batch_id)
            return self._repo.cancel_batch(store_id, batch_id)

        for row_id in await asyncio.to_thread(cancel):
            self._stores.runner.cancel(row_id)
        return await asyncio.to_thread(self._object, caller, store_id, batch_id)

    async def list_files(
        self,
        caller: Principal,
        store_id: str,
        batch_id: str,
        page: PageParams,
        *,
        status: str | None,
    ) -> CursorPage[VectorStoreFileObject]:
        """A page of the batch's files, ``filter`` by status."""

        def rows() -> CursorPage[VectorStoreFileObject]:
            self._object(caller, store_id, batch_id)
            found = self._repo.page_files(store_id, page, status=status, batch_id=batch_id)
            return found.to(_file_object)

        return await asyncio.to_thread(rows)
