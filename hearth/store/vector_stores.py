"""The vector store tables: stores, their files (leased ingestion work), file batches and
chunks, and the two searches over chunks (full text and dense vectors).

Every query of a store is scoped to its project. Chunks of one file are replaced in one
transaction (``complete``), so an ingestion resumed after a crash never leaves duplicate
or partial chunks. Full text: SQLite FTS5 (BM25) or PostgreSQL ``tsvector``
(``ts_rank_cd``). Dense: on PostgreSQL pgvector's exact cosine distance; on SQLite an
exact scan of the store's vectors held in memory (``VectorCache``), refreshed when the
store's chunks change.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import Select, delete, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.store import leases
from hearth.store.ids import new_id
from hearth.store.models import (
    StoredFile,
    VectorStore,
    VectorStoreChunk,
    VectorStoreFile,
    VectorStoreFileBatch,
    next_seq,
)
from hearth.store.pages import paginate

FILE_STATUSES = ("in_progress", "completed", "cancelled", "failed")

Owners = tuple[np.ndarray, np.ndarray]
"""Whose each chunk vector is: the distinct file row ids, and per chunk its index there."""


@dataclass(frozen=True)
class ChunkData:
    """A chunk to store: text, character offsets in the extracted text, token count."""

    text: str
    start: int
    end: int
    tokens: int


@dataclass(frozen=True)
class ChunkHit:
    """A chunk found by a search, with its file's name and attributes."""

    id: int
    vector_store_id: str
    file_id: str
    filename: str
    attributes: dict[str, Any] | None
    text: str
    start: int
    end: int


def counts(session: Session, where: Any) -> dict[str, int]:
    """``file_counts`` of the files matching ``where``: one per status plus ``total``."""
    rows = session.execute(
        select(VectorStoreFile.status, func.count()).where(where).group_by(VectorStoreFile.status)
    ).all()
    out = dict.fromkeys(FILE_STATUSES, 0)
    for status, n in rows:
        out[status] = int(n)
    out["total"] = sum(out.values())
    return out


class VectorStoreRepository:
    """Rows of vector stores, their files and batches, and chunk search."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        bind = sessions.kw["bind"]
        self.dialect: str = bind.dialect.name
        self._vectors = VectorCache()

    # stores

    def insert_store(self, project_id: str, **values: Any) -> VectorStore:
        """A new store ``vs_<24 alnum>``."""
        row = VectorStore(id=new_id("vs_"), project_id=project_id, seq=next_seq(), **values)
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def get_store(self, project_id: str, store_id: str) -> VectorStore | None:
        """The project's store, or None."""
        with self._sessions() as session:
            return session.scalar(
                select(VectorStore).where(
                    VectorStore.id == store_id, VectorStore.project_id == project_id
                )
            )

    def page_stores(self, project_id: str, page: PageParams) -> Page[VectorStore]:
        """One page of the project's stores."""
        stmt = select(VectorStore).where(VectorStore.project_id == project_id)
        with self._sessions() as session:
            return paginate(session, stmt, VectorStore, page)

    def update_store(self, project_id: str, store_id: str, **values: Any) -> VectorStore | None:
        """Set ``values`` on the project's store; the updated row or None."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(VectorStore).where(
                    VectorStore.id == store_id, VectorStore.project_id == project_id
                )
            )
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)
        return row

    def delete_store(self, project_id: str, store_id: str) -> bool:
        """Delete the store with its files, batches and chunks."""
        with self._sessions.begin() as session:
            exists = session.scalar(
                select(VectorStore.id).where(
                    VectorStore.id == store_id, VectorStore.project_id == project_id
                )
            )
            if exists is None:
                return False
            # chunks have no foreign key to the store: delete them first
            session.execute(
                delete(VectorStoreChunk).where(VectorStoreChunk.vector_store_id == store_id)
            )
            session.execute(delete(VectorStore).where(VectorStore.id == store_id))
        self._vectors.forget(store_id)
        return True

    def store_counts(self, store_ids: Sequence[str]) -> dict[str, tuple[dict[str, int], int]]:
        """Per store: ``file_counts`` and ``usage_bytes``."""
        with self._sessions() as session:
            out = {}
            for store_id in store_ids:
                where = VectorStoreFile.vector_store_id == store_id
                used = session.scalar(
                    select(func.coalesce(func.sum(VectorStoreFile.usage_bytes), 0)).where(where)
                )
                out[store_id] = (counts(session, where), int(used or 0))
            return out

    # files

    def add_files(
        self,
        store_id: str,
        files: Sequence[tuple[str, dict[str, Any] | None, dict[str, Any]]],
        *,
        batch: bool,
        now: int,
    ) -> tuple[list[VectorStoreFile], str | None]:
        """Add ``(file_id, attributes, chunking_strategy)`` to the store as
        ``in_progress`` work (a file already there is ingested again with the new values),
        in a new batch when ``batch``; the rows and the batch id."""
        batch_id = new_id("vsfb_") if batch else None
        rows = []
        with self._sessions.begin() as session:
            if batch_id is not None:
                session.add(
                    VectorStoreFileBatch(
                        id=batch_id, vector_store_id=store_id, created_at=now, seq=next_seq()
                    )
                )
                session.flush()
            for file_id, attributes, chunking in files:
                row = session.scalar(
                    select(VectorStoreFile).where(
                        VectorStoreFile.vector_store_id == store_id,
                        VectorStoreFile.file_id == file_id,
                    )
                )
                if row is None:
                    row = VectorStoreFile(
                        id=new_id("vsf_"), vector_store_id=store_id, file_id=file_id
                    )
                    session.add(row)
                row.batch_id = batch_id
                row.status = "in_progress"
                row.last_error = None
                row.attributes = attributes
                row.chunking_strategy = chunking
                row.usage_bytes = 0
                row.created_at = now
                row.seq = next_seq()
                row.attempts = 0
                rows.append(row)
            session.execute(
                update(VectorStore).where(VectorStore.id == store_id).values(last_active_at=now)
            )
        return rows, batch_id

    def get_file(self, store_id: str, file_id: str) -> VectorStoreFile | None:
        """The store's file (the store's project was checked by the caller)."""
        with self._sessions() as session:
            return session.scalar(
                select(VectorStoreFile).where(
                    VectorStoreFile.vector_store_id == store_id,
                    VectorStoreFile.file_id == file_id,
                )
            )

    def get_file_row(self, row_id: str) -> tuple[VectorStoreFile, StoredFile, VectorStore] | None:
        """An ingestion row with its file and store, or None if any is gone."""
        with self._sessions() as session:
            found = session.execute(
                select(VectorStoreFile, StoredFile, VectorStore)
                .join(StoredFile, StoredFile.id == VectorStoreFile.file_id)
                .join(VectorStore, VectorStore.id == VectorStoreFile.vector_store_id)
                .where(VectorStoreFile.id == row_id)
            ).first()
            return None if found is None else (found[0], found[1], found[2])

    def page_files(
        self, store_id: str, page: PageParams, *, status: str | None, batch_id: str | None = None
    ) -> Page[VectorStoreFile]:
        """One page of the store's (or one batch's) files, by ``status`` when given."""
        stmt: Select[Any] = select(VectorStoreFile).where(
            VectorStoreFile.vector_store_id == store_id
        )
        if status is not None:
            stmt = stmt.where(VectorStoreFile.status == status)
        if batch_id is not None:
            stmt = stmt.where(VectorStoreFile.batch_id == batch_id)
        with self._sessions() as session:
            return paginate(session, stmt, VectorStoreFile, page, key=VectorStoreFile.file_id)

    def update_attributes(
        self, store_id: str, file_id: str, attributes: dict[str, Any] | None
    ) -> VectorStoreFile | None:
        """Replace a file's attributes; the row or None."""
        with self._sessions.begin() as session:
            row = session.scalar(
                select(VectorStoreFile).where(
                    VectorStoreFile.vector_store_id == store_id,
                    VectorStoreFile.file_id == file_id,
                )
            )
            if row is not None:
                row.attributes = attributes
        return row

    def remove_file(self, store_id: str, file_id: str) -> str | None:
        """Remove a file (and its chunks) from the store; its row id or None."""
        with self._sessions.begin() as session:
            row_id = session.scalar(
                select(VectorStoreFile.id).where(
                    VectorStoreFile.vector_store_id == store_id,
                    VectorStoreFile.file_id == file_id,
                )
            )
            if row_id is None:
                return None
            session.execute(delete(VectorStoreChunk).where(VectorStoreChunk.file_row_id == row_id))
            session.execute(delete(VectorStoreFile).where(VectorStoreFile.id == row_id))
        self._vectors.forget(store_id)
        return str(row_id)

    def file_chunks(self, row_id: str) -> list[VectorStoreChunk]:
        """A file's chunks in order."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(VectorStoreChunk)
                    .where(VectorStoreChunk.file_row_id == row_id)
                    .order_by(VectorStoreChunk.position)
                )
            )

    def complete(
        self, row_id: str, chunks: Sequence[ChunkData], vectors: np.ndarray, store_id: str
    ) -> bool:
        """Replace the file's chunks with ``chunks`` (row ``i`` of ``vectors`` is chunk
        ``i``'s embedding) and mark it ``completed``, in one transaction that holds this
        process's lease; False (nothing written) if the lease was lost."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        usage = sum(len(c.text.encode()) for c in chunks) + vectors.nbytes
        with self._sessions.begin() as session:
            done = session.execute(
                update(VectorStoreFile)
                .where(VectorStoreFile.id == row_id, VectorStoreFile.lease_owner == leases.OWNER)
                .values(
                    status="completed",
                    usage_bytes=usage,
                    last_error=None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return False
            session.execute(delete(VectorStoreChunk).where(VectorStoreChunk.file_row_id == row_id))
            file_id = session.scalar(
                select(VectorStoreFile.file_id).where(VectorStoreFile.id == row_id)
            )
            rows = [
                {
                    "vector_store_id": store_id,
                    "file_row_id": row_id,
                    "file_id": file_id,
                    "position": i,
                    "text": c.text,
                    "start": c.start,
                    "end": c.end,
                    "tokens": c.tokens,
                    "embedding": vectors[i].tobytes(),
                }
                for i, c in enumerate(chunks)
            ]
            statement: Any = insert(VectorStoreChunk)
            if self.dialect == "postgresql":  # the pgvector copy goes in with the row
                statement = _PG_INSERT
                for row, vector in zip(rows, vectors, strict=True):
                    row["v"] = _pg_vector(vector)
            for start in range(0, len(rows), 1000):
                session.execute(statement, rows[start : start + 1000])
        self._vectors.forget(store_id)
        return True

    def fail(self, row_id: str, code: str, message: str) -> bool:
        """Mark the file ``failed`` with ``last_error`` (drops this process's lease)."""
        return leases.release(
            self._sessions,
            VectorStoreFile,
            row_id,
            status="failed",
            last_error={"code": code, "message": message},
        )

    def fail_any(self, row_id: str, code: str, message: str) -> None:
        """Mark the file ``failed`` whoever holds its lease (giving up after crashes)."""
        with self._sessions.begin() as session:
            session.execute(
                update(VectorStoreFile)
                .where(VectorStoreFile.id == row_id, VectorStoreFile.status == "in_progress")
                .values(
                    status="failed",
                    last_error={"code": code, "message": message},
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )

    # batches

    def get_batch(self, store_id: str, batch_id: str) -> VectorStoreFileBatch | None:
        """The store's batch, or None."""
        with self._sessions() as session:
            return session.scalar(
                select(VectorStoreFileBatch).where(
                    VectorStoreFileBatch.id == batch_id,
                    VectorStoreFileBatch.vector_store_id == store_id,
                )
            )

    def batch_counts(self, batch_id: str) -> dict[str, int]:
        """``file_counts`` of a batch."""
        with self._sessions() as session:
            return counts(session, VectorStoreFile.batch_id == batch_id)

    def cancel_batch(self, store_id: str, batch_id: str) -> list[str]:
        """Mark the batch cancelled and its unfinished files ``cancelled``; their row ids
        (the runner stops them)."""
        with self._sessions.begin() as session:
            session.execute(
                update(VectorStoreFileBatch)
                .where(VectorStoreFileBatch.id == batch_id)
                .values(cancelled=True)
            )
            ids = list(
                session.scalars(
                    select(VectorStoreFile.id).where(
                        VectorStoreFile.batch_id == batch_id,
                        VectorStoreFile.status == "in_progress",
                    )
                )
            )
            if ids:
                session.execute(
                    update(VectorStoreFile)
                    .where(VectorStoreFile.id.in_(ids))
                    .values(status="cancelled", lease_owner=None, lease_expires_at=None)
                )
        return [str(i) for i in ids]

    # search

    def touch(self, store_ids: Sequence[str], now: int) -> None:
        """Set ``last_active_at`` (searches and new files keep a store from expiring)."""
        with self._sessions.begin() as session:
            session.execute(
                update(VectorStore).where(VectorStore.id.in_(store_ids)).values(last_active_at=now)
            )

    def store_files(
        self, store_ids: Sequence[str]
    ) -> list[tuple[str, str, dict[str, Any] | None, str]]:
        """``(row id, file id, attributes, status)`` of every file of the stores."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    VectorStoreFile.id,
                    VectorStoreFile.file_id,
                    VectorStoreFile.attributes,
                    VectorStoreFile.status,
                ).where(VectorStoreFile.vector_store_id.in_(store_ids))
            ).all()
            return [(str(r[0]), str(r[1]), r[2], str(r[3])) for r in rows]

    def text_search(
        self,
        store_ids: Sequence[str],
        file_rows: Sequence[str] | None,
        query: str,
        limit: int,
    ) -> list[tuple[int, float]]:
        """Best ``limit`` chunks of the stores for the words of ``query`` (any of them),
        only of ``file_rows`` unless None (every completed file): ``(chunk id, score)``,
        higher is better (BM25 on SQLite, ``ts_rank_cd`` on PostgreSQL)."""
        words = _words(query)
        if not words or not store_ids or file_rows == []:
            return []
        params: dict[str, Any] = {"limit": limit}
        with self._sessions() as session:
            if self.dialect == "postgresql":
                params |= {"q": " | ".join(words), "stores": list(store_ids)}
                where = "tsv @@ q AND vector_store_id = ANY(:stores)"
                if file_rows is not None:
                    where += " AND file_row_id = ANY(:rows)"
                    params["rows"] = list(file_rows)
                rows = session.execute(
                    text(
                        "SELECT id, ts_rank_cd(tsv, q, 1) AS score FROM vector_store_chunks, "
                        f"to_tsquery('english', :q) q WHERE {where} "
                        "ORDER BY score DESC LIMIT :limit"
                    ),
                    params,
                ).all()
                return [(int(r[0]), float(r[1])) for r in rows]
            # the stores are matched in the index; bm25 weighs the text column only
            stores = " OR ".join(f'"{s}"' for s in store_ids)
            terms = " OR ".join(f'"{w}"' for w in words)
            params["match"] = f"{{vector_store_id}}: ({stores}) AND {{text}}: ({terms})"
            if file_rows is None:
                sql = (
                    "SELECT rowid, -bm25(vector_store_chunks_fts, 1.0, 0.0) FROM "
                    "vector_store_chunks_fts WHERE vector_store_chunks_fts MATCH :match "
                    "ORDER BY bm25(vector_store_chunks_fts, 1.0, 0.0) LIMIT :limit"
                )
            else:
                params |= {f"f{i}": v for i, v in enumerate(file_rows)}
                sql = (
                    "SELECT c.id, -bm25(vector_store_chunks_fts, 1.0, 0.0) "
                    "FROM vector_store_chunks_fts JOIN vector_store_chunks c "
                    "ON c.id = vector_store_chunks_fts.rowid "
                    "WHERE vector_store_chunks_fts MATCH :match "
                    f"AND c.file_row_id IN ({_placeholders('f', file_rows)}) "
                    "ORDER BY bm25(vector_store_chunks_fts, 1.0, 0.0) LIMIT :limit"
                )
            rows = session.execute(text(sql), params).all()
            return [(int(r[0]), float(r[1])) for r in rows]

    def dense_search(
        self,
        store_ids: Sequence[str],
        file_rows: Sequence[str] | None,
        vector: np.ndarray,
        limit: int,
    ) -> list[tuple[int, float]]:
        """Best ``limit`` chunks of the stores by cosine similarity to ``vector`` (exact),
        only of ``file_rows`` unless None: ``(chunk id, cosine)``."""
        if file_rows == [] or not store_ids:
            return []
        if self.dialect == "postgresql":
            with self._sessions() as session:
                params: dict[str, Any] = {
                    "v": _pg_vector(vector),
                    "stores": list(store_ids),
                    "limit": limit,
                }
                where = "vector_store_id = ANY(:stores)"
                if file_rows is not None:
                    where += " AND file_row_id = ANY(:rows)"
                    params["rows"] = list(file_rows)
                rows = session.execute(
                    text(
                        "SELECT id, 1 - (embedding_vec <=> CAST(:v AS vector)) AS score "
                        f"FROM vector_store_chunks WHERE {where} "
                        "ORDER BY embedding_vec <=> CAST(:v AS vector) LIMIT :limit"
                    ),
                    params,
                ).all()
                return [(int(r[0]), float(r[1])) for r in rows]
        hits: list[tuple[int, float]] = []
        for store_id in store_ids:
            ids, owners, matrix = self._vectors.get(
                store_id, self._stamp(store_id), partial(self._load, store_id)
            )
            if len(ids) == 0:
                continue
            scores = matrix @ vector.astype(np.float32)
            if file_rows is not None:
                files, codes = owners
                wanted = np.isin(files, np.asarray(list(file_rows), dtype=object))
                scores = np.where(wanted[codes], scores, -np.inf)
            top = np.argpartition(-scores, min(limit, len(scores) - 1))[:limit]
            hits += [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]
        hits.sort(key=lambda h: -h[1])
        return hits[:limit]

    def _stamp(self, store_id: str) -> tuple[int, int]:
        """``(count, max id)`` of the store's chunks: changes whenever any process
        replaces or removes chunks (ids only grow)."""
        with self._sessions() as session:
            n, top = session.execute(
                select(func.count(), func.coalesce(func.max(VectorStoreChunk.id), 0)).where(
                    VectorStoreChunk.vector_store_id == store_id
                )
            ).one()
        return int(n), int(top)

    def _load(self, store_id: str) -> tuple[np.ndarray, Owners, np.ndarray]:
        with self._sessions() as session:
            rows = session.execute(
                select(
                    VectorStoreChunk.id, VectorStoreChunk.file_row_id, VectorStoreChunk.embedding
                ).where(VectorStoreChunk.vector_store_id == store_id)
            ).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        files, codes = np.unique(
            np.array([str(r[1]) for r in rows], dtype=object), return_inverse=True
        )
        if not rows:
            return ids, (files, codes), np.zeros((0, 0), np.float32)
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
        return ids, (files, codes), matrix.reshape(len(rows), -1)

    def hits(self, chunk_ids: Sequence[int]) -> dict[int, ChunkHit]:
        """The chunks with their file's name and attributes, by id."""
        if not chunk_ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(
                select(VectorStoreChunk, StoredFile.filename, VectorStoreFile.attributes)
                .join(VectorStoreFile, VectorStoreFile.id == VectorStoreChunk.file_row_id)
                .join(StoredFile, StoredFile.id == VectorStoreFile.file_id)
                .where(VectorStoreChunk.id.in_(list(chunk_ids)))
            ).all()
        return {
            c.id: ChunkHit(c.id, c.vector_store_id, c.file_id, name, attrs, c.text, c.start, c.end)
            for c, name, attrs in rows
        }


def _pg_vector(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


_PG_INSERT = text(
    "INSERT INTO vector_store_chunks (vector_store_id, file_row_id, file_id, position, text, "
    'start, "end", tokens, embedding, embedding_vec) VALUES (:vector_store_id, :file_row_id, '
    ":file_id, :position, :text, :start, :end, :tokens, :embedding, CAST(:v AS vector))"
)
"""A chunk row with its pgvector column (not mapped: the migration adds it)."""


_WORD = re.compile(r"\w+", re.UNICODE)


def _words(query: str) -> list[str]:
    """The query's words, lower-cased, each once, in order (quoted into the full-text
    query language so no user text is read as its syntax)."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(query.lower()):
        seen.setdefault(w, None)
    return list(seen)[:64]


def _placeholders(prefix: str, values: Sequence[Any]) -> str:
    return ", ".join(f":{prefix}{i}" for i in range(len(values)))


class VectorCache:
    """Each store's chunk vectors as one matrix, for exact dense search on SQLite, kept
    while the store's ``stamp`` is unchanged; least recently used stores are dropped past
    ``max_vectors`` rows in all."""

    def __init__(self, max_vectors: int = 2_000_000) -> None:
        self._max = max_vectors
        self._lock = threading.Lock()
        self._entries: OrderedDict[
            str, tuple[tuple[int, int], tuple[np.ndarray, Owners, np.ndarray]]
        ] = OrderedDict()

    def get(
        self,
        store_id: str,
        stamp: tuple[int, int],
        load: Callable[[], tuple[np.ndarray, Owners, np.ndarray]],
    ) -> tuple[np.ndarray, Owners, np.ndarray]:
        """The store's ``(chunk ids, file row ids, vectors)``, loaded when missing or
        stale."""
        with self._lock:
            entry = self._entries.get(store_id)
            if entry is not None and entry[0] == stamp:
                self._entries.move_to_end(store_id)
                return entry[1]
        value = load()
        with self._lock:
            self._entries[store_id] = (stamp, value)
            self._entries.move_to_end(store_id)
            while len(self._entries) > 1 and (
                sum(len(e[1][0]) for e in self._entries.values()) > self._max
            ):
                self._entries.popitem(last=False)
        return value

    def forget(self, store_id: str) -> None:
        """Drop the store's matrix."""
        with self._lock:
            self._entries.pop(store_id, None)
