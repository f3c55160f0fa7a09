"""Ingestion of vector store files as ``hearth.jobs.Work``: read the file, extract its
text, chunk it with the embedding model's tokenizer, embed the chunks in batches and
replace the file's chunks in one transaction.

A server killed mid-file leaves the row ``in_progress`` with an expiring lease; the next
start claims it and ingests the file again from the start; the replace in one transaction
means no chunk is duplicated or lost. A file that cannot be read ends ``failed`` with
``last_error`` (``unsupported_file``, ``invalid_file``); nothing else in the store
changes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np

from hearth.domain import Principal
from hearth.retrieval.chunking import TooManyTokens, chunk_tokens, tokenize_long, window_token_lists
from hearth.retrieval.embeddings import EmbeddingEngine, EmbeddingRegistry
from hearth.retrieval.extract import ExtractionError, extract_text
from hearth.services.files import Files
from hearth.store.models import VectorStoreFile
from hearth.store.vector_stores import ChunkData, VectorStoreRepository

log = logging.getLogger(__name__)

EMBED_GROUP = 256
"""Windows sent to the embedding engine at once (it batches them further)."""


@dataclass(frozen=True)
class _Chunked:
    chunks: list[ChunkData]
    windows: list[list[int]]
    owners: list[int]
    """``owners[i]``: the chunk window ``i`` belongs to."""


class IngestWork:
    """Vector store files as ``hearth.jobs.Work`` (``in_progress`` rows)."""

    name = "vector-store-file"
    table = VectorStoreFile
    statuses: tuple[str, ...] = ("in_progress",)

    def __init__(
        self, repo: VectorStoreRepository, files: Files, embeddings: EmbeddingRegistry
    ) -> None:
        self._repo = repo
        self._files = files
        self._embeddings = embeddings
        self.chunks_written = 0

    async def run(self, job_id: str) -> None:
        """Ingest one claimed file to ``completed`` or ``failed``."""
        found = await asyncio.to_thread(self._repo.get_file_row, job_id)
        if found is None:
            return
        row, stored, store = found
        try:
            engine = self._embeddings.get(store.embedding_model)
        except Exception:
            await asyncio.to_thread(
                self._repo.fail,
                job_id,
                "server_error",
                f"The store's embedding model `{store.embedding_model}` is not served.",
            )
            return
        caller = Principal.for_project("", store.project_id)
        try:
            _, data = await self._files.read(caller, row.file_id, purposes=None, param="file_id")
            text = await asyncio.to_thread(extract_text, stored.filename, data)
            if not text.strip():
                raise ExtractionError("invalid_file", "The file contains no text.")
            static = row.chunking_strategy["static"]
            chunked = await asyncio.to_thread(
                _chunk,
                engine,
                text,
                static["max_chunk_size_tokens"],
                static["chunk_overlap_tokens"],
            )
        except ExtractionError as exc:
            await asyncio.to_thread(self._repo.fail, job_id, exc.code, exc.message)
            return
        except TooManyTokens as exc:
            await asyncio.to_thread(self._repo.fail, job_id, "invalid_file", str(exc))
            return
        vectors = await _embed(engine, chunked)
        if await asyncio.to_thread(
            self._repo.complete, job_id, chunked.chunks, vectors, row.vector_store_id
        ):
            self.chunks_written += len(chunked.chunks)

    async def give_up(self, job_id: str, attempts: int) -> None:
        """Fail the file: ingesting it was interrupted ``attempts - 1`` times."""
        await asyncio.to_thread(
            self._repo.fail_any,
            job_id,
            "server_error",
            f"Processing the file was interrupted {attempts - 1} times and was given up.",
        )

    async def fail(self, job_id: str, error: Exception) -> None:
        """Fail the file because ingesting it raised ``error`` (a bug)."""
        log.error("ingesting vector store file %s failed: %r", job_id, error)
        await asyncio.to_thread(
            self._repo.fail_any, job_id, "server_error", "The file could not be processed."
        )


def _chunk(engine: EmbeddingEngine, text: str, max_tokens: int, overlap: int) -> _Chunked:
    model = engine.model

    def tokenize(pieces: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        return [model.tokenize_offsets(p) for p in pieces]

    ids, offsets = tokenize_long(text, tokenize)
    chunks: list[ChunkData] = []
    windows: list[list[int]] = []
    owners: list[int] = []
    for index, chunk in enumerate(chunk_tokens(ids, offsets, max_tokens, overlap)):
        chunks.append(
            ChunkData(text[chunk.start : chunk.end], chunk.start, chunk.end, len(chunk.tokens))
        )
        for window in window_token_lists(chunk.tokens, model.max_input_tokens):
            windows.append(window)
            owners.append(index)
    return _Chunked(chunks, windows, owners)


async def _embed(engine: EmbeddingEngine, chunked: _Chunked) -> np.ndarray:
    """One vector per chunk: the normalised mean of its windows' vectors."""
    parts = [
        await engine.embed(chunked.windows[i : i + EMBED_GROUP])
        for i in range(0, len(chunked.windows), EMBED_GROUP)
    ]
    windows = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
    out = np.zeros((len(chunked.chunks), windows.shape[1]), np.float32)
    np.add.at(out, np.asarray(chunked.owners, dtype=np.int64), windows)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)
