"""File search: hybrid retrieval over vector stores, the one search behind
``vector_stores.search`` and the ``file_search`` tool of the Responses and Assistants
runtimes.

Each query is embedded with the store's model; the best chunks by cosine similarity
(exact) and by full-text rank (BM25 on SQLite, ``ts_rank_cd`` on PostgreSQL; stop words
left out of the text query) are fused.
``fusion="relative"`` (the default): each ranking's scores are scaled to [0, 1] (cosine
clipped at 0; text scores divided by the best one) and averaged with the
``hybrid_search`` weights; ``fusion="rrf"``: weighted reciprocal rank fusion (k = 60),
normalised so that first in both rankings is 1. Either way a score is in [0, 1], higher is
better, and ``score_threshold`` drops results below it. benchmarks/retrieval.py measures
both on a public test collection (docs/retrieval.md).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hearth.retrieval.embeddings import EmbeddingRegistry
from hearth.retrieval.filters import Filter, matches
from hearth.store.vector_stores import ChunkHit, VectorStoreRepository

RRF_K = 60
CANDIDATES = 50
"""Chunks each ranking contributes before fusion (at least ``5 * max_num_results``)."""

Fusion = Literal["relative", "rrf"]

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "please",
        "should",
        "tell",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "this",
        "those",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


@dataclass(frozen=True)
class SearchHit:
    """One ranked chunk: where it is from and how well it matched."""

    vector_store_id: str
    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, Any] | None
    start: int
    """Character offset of the chunk in the file's extracted text."""
    end: int


def rewrite(query: str) -> str:
    """The query as a keyword search (``rewrite_query``): question words, stop words and
    punctuation dropped; the query itself if nothing would remain."""
    words = [w for w in re.findall(r"\w+", query) if w.lower() not in _STOPWORDS]
    return " ".join(words) or query


class FileSearch:
    """Hybrid search over a project's vector stores."""

    def __init__(
        self,
        repo: VectorStoreRepository,
        embeddings: EmbeddingRegistry,
        fusion: Fusion = "relative",
    ) -> None:
        self._repo = repo
        self._embeddings = embeddings
        self.fusion: Fusion = fusion

    async def search(
        self,
        store_ids: Sequence[str],
        embedding_model: str,
        queries: Sequence[str],
        *,
        filters: Filter | None = None,
        max_num_results: int = 10,
        score_threshold: float = 0.0,
        embedding_weight: float = 1.0,
        text_weight: float = 1.0,
    ) -> list[SearchHit]:
        """The best ``max_num_results`` chunks of the stores' completed files whose
        attributes pass ``filters``, best first. Several queries: each chunk keeps its best
        score. The stores must belong to the caller (the service checks)."""
        files = await asyncio.to_thread(self._repo.store_files, store_ids)
        rows: list[str] | None = [
            row
            for row, _, attrs, status in files
            if status == "completed" and (filters is None or matches(filters, attrs))
        ]
        if not rows or not queries:
            return []
        if len(rows) == len(files):
            rows = None  # every file: the searches need not name them
        engine = self._embeddings.get(embedding_model)
        tokens = await asyncio.to_thread(_query_tokens, engine, queries)
        vectors = await engine.embed(tokens)
        limit = max(CANDIDATES, 5 * max_num_results)
        best: dict[int, float] = {}
        for query, vector in zip(queries, vectors, strict=True):
            dense, text = await asyncio.gather(  # the two rankings side by side
                asyncio.to_thread(self._repo.dense_search, store_ids, rows, vector, limit)
                if embedding_weight > 0
                else _nothing(),
                asyncio.to_thread(self._repo.text_search, store_ids, rows, rewrite(query), limit)
                if text_weight > 0
                else _nothing(),
            )
            for chunk_id, score in fuse(
                dense, text, embedding_weight, text_weight, self.fusion
            ).items():
                best[chunk_id] = max(score, best.get(chunk_id, 0.0))
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
        ranked = [(c, s) for c, s in ranked if s >= score_threshold][:max_num_results]
        chunks = await asyncio.to_thread(self._repo.hits, [c for c, _ in ranked])
        return [_hit(chunks[c], s) for c, s in ranked if c in chunks]


def fuse(
    dense: Sequence[tuple[int, float]],
    text: Sequence[tuple[int, float]],
    embedding_weight: float,
    text_weight: float,
    fusion: Fusion,
) -> dict[int, float]:
    """Chunk id -> fused score in [0, 1] from the two rankings (best first each)."""
    total = embedding_weight + text_weight
    if total <= 0:
        return {}
    scores: dict[int, float] = {}
    if fusion == "rrf":
        top = total / (RRF_K + 1)
        for weight, ranking in ((embedding_weight, dense), (text_weight, text)):
            for rank, (chunk_id, _) in enumerate(ranking):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (RRF_K + rank + 1)
        return {c: s / top for c, s in scores.items()}
    best_text = max((s for _, s in text), default=0.0)
    for chunk_id, cosine in dense:
        scores[chunk_id] = embedding_weight * min(max(cosine, 0.0), 1.0)
    for chunk_id, score in text:
        share = score / best_text if best_text > 0 else 0.0
        scores[chunk_id] = scores.get(chunk_id, 0.0) + text_weight * share
    return {c: s / total for c, s in scores.items()}


async def _nothing() -> list[tuple[int, float]]:
    return []


def _query_tokens(engine: Any, queries: Sequence[str]) -> list[list[int]]:
    """Query tokens, cut to what the model reads (a query is not a document: a long one
    is searched by its beginning rather than refused)."""
    model = engine.model
    return [t[: model.max_input_tokens] or [0] for t in model.tokenize(list(queries))]


def _hit(chunk: ChunkHit, score: float) -> SearchHit:
    return SearchHit(
        chunk.vector_store_id,
        chunk.file_id,
        chunk.filename,
        float(np.round(score, 6)),
        chunk.text,
        chunk.attributes,
        chunk.start,
        chunk.end,
    )
