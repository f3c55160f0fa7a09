"""Embeddings throughput: what Hearth adds over running the same ONNX model directly.

1,024 distinct texts of exactly 128 tokens each (the model's own tokenizer, special tokens
not counted), cut from ``benchmarks/passage.txt`` behind a numbered prefix, embedded with
the bundled all-MiniLM-L6-v2 (int8 ONNX) three ways, all with the same onnxruntime
``intra_op_num_threads`` (``--threads``, default 2):

a. **bare library**: onnxruntime + tokenizers directly (a session built here on the same
   ``model.onnx``, the tokenizer padding each batch, mean pooling and L2 normalisation in
   numpy), 16 batches of 64 one after another;
b. **engine**: Hearth's ``EmbeddingEngine`` (batch size 64) in this process, 16 concurrent
   callers each tokenizing 64 texts (on a worker thread, as the endpoint does) and
   awaiting ``engine.embed``: the engine batches every waiting caller's texts together;
c. **HTTP**: a real ``hearth serve`` (no chat or speech models,
   ``HEARTH_EMBEDDING_THREADS``), 8 concurrent ``openai.AsyncOpenAI`` clients in this
   process posting 64 texts per ``embeddings.create`` (the SDK asks for base64), 16
   requests in all. The clients share the machine's cores with the server.

Each way gets one warm-up call (model load), then ``--rounds`` (3) rounds run a, b, c, a,
b, c, ...; each figure is the median over the rounds of 1,024 texts ÷ wall time
(tokenization included everywhere). ``ratio_vs_bare`` is b or c ÷ a (1.0: no overhead).
``agreement`` is the lowest cosine between a's vector of a text and b's / c's (≈ 1: the
three compute the same thing).

Prints one JSON document on stdout (progress goes to stderr); nothing here asserts on the
figures.

Usage: .venv/bin/python benchmarks/embeddings.py [--threads 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hearth.retrieval.embeddings import (
    BUNDLED_MODEL,
    EmbeddingEngine,
    EmbeddingSource,
    bundled_source,
)

PASSAGE = Path(__file__).with_name("passage.txt")
API_KEY = "sk-bench-embeddings"
TEXTS = 1024
TOKENS = 128
BATCH = 64
ENGINE_CALLERS = 16
HTTP_CLIENTS = 8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_tokenizer(source: EmbeddingSource) -> Any:
    from tokenizers import Tokenizer

    tok = source.tokenizer
    if isinstance(tok, Path):
        return Tokenizer.from_file(str(tok))
    return Tokenizer.from_str(tok)


def make_texts(source: EmbeddingSource) -> list[str]:
    """``TEXTS`` distinct texts of exactly ``TOKENS`` tokens: ``"<n>. "`` then passage
    text starting at successive words (wrapping around), checked by re-tokenizing."""
    tokenizer = load_tokenizer(source)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    passage = " ".join(PASSAGE.read_text(encoding="utf-8").split())
    text = " ".join([passage] * 3)
    enc = tokenizer.encode(text, add_special_tokens=False)
    starts = [i for i, w in enumerate(enc.word_ids) if i == 0 or w != enc.word_ids[i - 1]]
    single = len(tokenizer.encode(passage, add_special_tokens=False).ids)
    starts = [s for s in starts if s < single]
    out: list[str] = []
    n = 0
    while len(out) < TEXTS:
        start = starts[n % len(starts)]
        prefix = f"{n}. "
        room = TOKENS - len(tokenizer.encode(prefix, add_special_tokens=False).ids)
        end = start + room
        candidate = prefix + text[enc.offsets[start][0] : enc.offsets[end - 1][1]]
        if len(tokenizer.encode(candidate, add_special_tokens=False).ids) == TOKENS:
            out.append(candidate)
        n += 1
        if n > 20 * TEXTS:
            raise SystemExit("could not build the texts")
    return out


# a. bare library


class Bare:
    """onnxruntime + tokenizers, nothing of Hearth's."""

    def __init__(self, source: EmbeddingSource, threads: int) -> None:
        import onnxruntime as ort

        self.tokenizer = load_tokenizer(source)
        self.tokenizer.enable_truncation(source.max_tokens)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(source.model), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        states = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def run(self, texts: list[str]) -> np.ndarray:
        return np.concatenate(
            [self.embed(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        )


# b. Hearth's engine, in process


async def engine_run(engine: EmbeddingEngine, texts: list[str]) -> np.ndarray:
    model = engine.model

    async def caller(part: list[str]) -> np.ndarray:
        tokens = await asyncio.to_thread(model.tokenize, part)
        return await engine.embed(tokens)

    per = len(texts) // ENGINE_CALLERS
    parts = [texts[i : i + per] for i in range(0, len(texts), per)]
    return np.concatenate(await asyncio.gather(*(caller(p) for p in parts)))


# c. Hearth over HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, threads: int) -> tuple[subprocess.Popen[bytes], str, Path]:
    """``hearth serve`` with only the embedding model, once ``/health`` answers."""
    import httpx2

    port = free_port()
    log_path = data_dir.parent / "serve.log"
    env = {
        **os.environ,
        "HEARTH_BUNDLED_MODELS": "false",
        "HEARTH_AUDIO": "false",
        "HEARTH_EMBEDDING_THREADS": str(threads),
        "HEARTH_LOG_LEVEL": "warning",
    }
    env.pop("HEARTH_API_KEY", None)
    with log_path.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hearth", "serve", "--port", str(port)]
            + ["--data-dir", str(data_dir), "--api-key", API_KEY],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"hearth serve exited:\n{log_path.read_text()}")
        try:
            if httpx2.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url, log_path
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"hearth serve did not start:\n{log_path.read_text()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def http_run(client: Any, texts: list[str]) -> np.ndarray:
    requests: asyncio.Queue[int] = asyncio.Queue()
    for start in range(0, len(texts), BATCH):
        requests.put_nowait(start)
    out: dict[int, np.ndarray] = {}

    async def worker() -> None:
        while not requests.empty():
            start = requests.get_nowait()
            response = await client.embeddings.create(
                model=BUNDLED_MODEL, input=texts[start : start + BATCH]
            )
            out[start] = np.array([d.embedding for d in response.data], dtype=np.float32)

    await asyncio.gather(*(worker() for _ in range(HTTP_CLIENTS)))
    return np.concatenate([out[s] for s in sorted(out)])


# the rounds


def timed(run: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = run()
    return time.perf_counter() - started, vectors


def lowest_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


async def measure(args: argparse.Namespace, texts: list[str], source: EmbeddingSource) -> Any:
    import openai

    loop = asyncio.get_running_loop()
    bare = Bare(source, args.threads)
    engine = EmbeddingEngine(source, args.threads, BATCH)
    ways: dict[str, list[float]] = {"a_bare": [], "b_engine": [], "c_http": []}
    agreement: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-embeddings-") as tmp:
        proc, url, log_path = start_server(Path(tmp) / "data", args.threads)
        try:
            async with openai.AsyncOpenAI(
                base_url=f"{url}/v1", api_key=API_KEY, max_retries=0, timeout=120
            ) as client:
                runs: dict[str, Callable[[], Any]] = {
                    "a_bare": lambda: loop.run_in_executor(None, bare.run, texts),
                    "b_engine": lambda: engine_run(engine, texts),
                    "c_http": lambda: http_run(client, texts),
                }
                started = time.perf_counter()
                await loop.run_in_executor(None, bare.run, texts[:BATCH])
                await engine_run(engine, texts[: ENGINE_CALLERS * 4])
                await http_run(client, texts[:BATCH])
                log(f"warm-up {time.perf_counter() - started:.1f} s")
                reference: np.ndarray | None = None
                for round_ in range(args.rounds):
                    for way, run in runs.items():
                        t0 = time.perf_counter()
                        vectors = await run()
                        seconds = time.perf_counter() - t0
                        ways[way].append(len(texts) / seconds)
                        if way == "a_bare":
                            reference = vectors
                        elif reference is not None:
                            agreement[way] = min(
                                agreement.get(way, 1.0), lowest_cosine(reference, vectors)
                            )
                        log(f"round {round_ + 1} {way}: {len(texts) / seconds:.1f} texts/s")
        finally:
            stop_server(proc)
            problems = [
                line
                for line in log_path.read_text().splitlines()
                if "Traceback" in line or "ERROR" in line
            ]
    engine.close()
    return ways, agreement, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    args = parser.parse_args()
    source = bundled_source()
    if source is None:
        raise SystemExit("the bundled embedding model's packages are not installed")
    started = time.perf_counter()
    texts = make_texts(source)
    ways, agreement, problems = asyncio.run(measure(args, texts, source))
    medians = {w: statistics.median(v) for w, v in ways.items()}
    result = {
        "benchmark": "embeddings",
        "model": f"{BUNDLED_MODEL} (int8 ONNX, {source.model.name})",
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "texts": len(texts),
        "tokens_per_text": TOKENS,
        "batch": BATCH,
        "engine_callers": ENGINE_CALLERS,
        "http_clients": HTTP_CLIENTS,
        "rounds": args.rounds,
        "texts_per_s": {w: round(m, 1) for w, m in medians.items()},
        "ratio_vs_bare": {
            w: round(medians[w] / medians["a_bare"], 3) for w in ("b_engine", "c_http")
        },
        "per_round_texts_per_s": {w: [round(x, 1) for x in v] for w, v in ways.items()},
        "agreement_lowest_cosine_vs_bare": {w: round(c, 5) for w, c in agreement.items()},
        "server_log_problems": problems,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
