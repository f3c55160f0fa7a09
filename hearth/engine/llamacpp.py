"""The llama.cpp runner: GGUF weights through llama-cpp-python's low-level C API.

One ``llama_context`` with a unified KV cache shared by up to ``max_sequences``
sequence ids; every scheduler step is one ``llama_decode`` over all of them
(continuous batching).

Threads: the context (``decode``, the KV-cache and state calls, logits) is used by the
thread that loads the model until its scheduler thread starts, then by the scheduler
thread only. The vocabulary is read from other threads too: ``tokenize`` on worker
threads (request preparation, fine-tuning data), and llguidance's tokenizer (built once
by ``grammar_tokenizer``) calls ``llama_tokenize`` on it from whichever thread compiles a
grammar or computes a mask. That is safe: a ``llama_vocab`` is immutable once the model
is loaded, and llama.cpp's tokenize and token-to-piece functions take it ``const`` and
keep their working state per call. ``close`` frees both, so ``LocalModel.close`` calls it
only after the scheduler thread has ended and no other thread is in the model.
"""

from __future__ import annotations

import ctypes
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import llama_cpp as lc
import numpy as np
from llguidance import LLTokenizer
from llguidance.llamacpp import lltokenizer_from_vocab

from hearth.engine.prefix_cache import Blob
from hearth.engine.runner import BatchItem, KVCacheFull, ModelInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerConfig:
    """Context parameters: per-sequence context, sequences, KV cells, batch, threads."""

    context_length: int = 8192
    max_sequences: int = 8
    kv_cells: int = 16384
    batch_tokens: int = 512
    threads: int | None = None
    flash_attention: bool = True


_LOG_CALLBACK = None


def _u8(data: Blob) -> ctypes._Pointer[ctypes.c_uint8]:
    return data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))


def quiet_llama_logs() -> None:
    """Route llama.cpp's stderr chatter to Python logging at DEBUG (once)."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return

    @lc.llama_log_callback
    def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = _callback
    lc.llama_log_set(_callback, ctypes.c_void_p(0))
    lc.llama_backend_init()


def _has_amx() -> bool:
    """Whether this llama.cpp build runs its Intel AMX kernels on this CPU.

    Its AMX matmul for Q4_0/Q4_1 weights crashes on multi-token batches (llama.cpp issues
    #11115, #20824; wrong results per PR #16315), so on such CPUs weights stay in plain CPU
    buffers: no AMX, and no Q4_0 repacking either (F16 and Q8_0 are unaffected)."""
    return b"AMX_INT8 = 1" in lc.llama_print_system_info()


def _meta(model: lc.llama_model_p, key: str) -> str | None:
    buf = ctypes.create_string_buffer(1 << 16)
    n = lc.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
    return buf.value.decode("utf-8", "replace") if n >= 0 else None


class LlamaCppRunner:
    """A GGUF model loaded for batched decoding. See ``ModelRunner`` for the contract.

    Raises ``RuntimeError`` if llama.cpp cannot load the file or create the context.
    """

    def __init__(self, path: str, model_id: str, fingerprint: str, config: RunnerConfig):
        quiet_llama_logs()
        self._model = self._load_model(path)
        self._vocab = lc.llama_model_get_vocab(self._model)
        n_ctx_train = lc.llama_model_n_ctx_train(self._model)
        self.context_length = min(config.context_length, n_ctx_train)
        self.max_sequences = config.max_sequences
        self._scratch = config.max_sequences
        self.kv_cells = max(config.kv_cells, self.context_length)
        self._batch_tokens = config.batch_tokens
        self._ctx = self._new_context(config)
        self._memory = lc.llama_get_memory(self._ctx)
        self._batch = lc.llama_batch_init(config.batch_tokens, 0, 1)
        self._n_vocab = lc.llama_vocab_n_tokens(self._vocab)
        self._piece_cache: dict[int, bytes] = {}
        self._closed = False
        self.info = ModelInfo(
            id=model_id,
            path=path,
            n_vocab=self._n_vocab,
            n_ctx_train=n_ctx_train,
            context_length=self.context_length,
            chat_template=_meta(self._model, "tokenizer.chat_template"),
            bos_token=self._special_text(lc.llama_vocab_bos(self._vocab)),
            eos_token=self._special_text(lc.llama_vocab_eos(self._vocab)),
            fingerprint=fingerprint,
            description=self._describe(),
        )

    @staticmethod
    def _load_model(path: str) -> lc.llama_model_p:
        params = lc.llama_model_default_params()
        params.use_extra_bufts = not _has_amx()
        model = lc.llama_model_load_from_file(path.encode(), params)
        if not model:
            raise RuntimeError(f"llama.cpp could not load model file {path}")
        return model

    def _new_context(self, config: RunnerConfig) -> lc.llama_context_p:
        params = lc.llama_context_default_params()
        params.n_ctx = self.kv_cells
        params.n_batch = config.batch_tokens
        params.n_ubatch = config.batch_tokens
        params.n_seq_max = config.max_sequences + 1  # + a scratch id for cache blocks
        params.kv_unified = True  # one cell pool: any sequence may use the whole context
        threads = config.threads or os.cpu_count() or 1
        params.n_threads = threads
        params.n_threads_batch = threads
        params.flash_attn_type = (
            lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if config.flash_attention
            else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        ctx = lc.llama_init_from_model(self._model, params)
        if not ctx:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        return ctx

    def _describe(self) -> str:
        buf = ctypes.create_string_buffer(256)
        lc.llama_model_desc(self._model, buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._piece(token, special=True).decode("utf-8", "replace")

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = lc.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids of ``text`` (no BOS added; chat templates add their own)."""
        data = text.encode("utf-8")
        cap = len(data) + 8
        arr = (lc.llama_token * cap)()
        n = lc.llama_tokenize(self._vocab, data, len(data), arr, cap, False, special)
        if n < 0:
            arr = (lc.llama_token * -n)()
            n = lc.llama_tokenize(self._vocab, data, len(data), arr, -n, False, special)
        return list(arr[:n])

    def token_bytes(self, token: int) -> bytes:
        """Raw bytes of a token as it appears in output text (control tokens: empty)."""
        piece = self._piece_cache.get(token)
        if piece is None:
            piece = self._piece_cache[token] = self._piece(token, special=False)
        return piece

    def grammar_tokenizer(self) -> LLTokenizer:
        """The vocabulary as llguidance sees it (~0.3 s to build), with every
        end-of-generation token as an EOS the grammar may allow when complete."""
        eog = [t for t in range(self._n_vocab) if lc.llama_vocab_is_eog(self._vocab, t)]
        with warnings.catch_warnings():  # llguidance calls llama_token_get_attr (deprecated)
            warnings.simplefilter("ignore", DeprecationWarning)
            return lltokenizer_from_vocab(self._vocab, n_vocab=self._n_vocab, eos_token=eog)

    def is_end_of_generation(self, token: int) -> bool:
        """EOS, EOT and other end-of-generation tokens from the GGUF vocabulary."""
        return bool(lc.llama_vocab_is_eog(self._vocab, token))

    def decode(self, items: Sequence[BatchItem]) -> np.ndarray:
        """One ``llama_decode`` over all items; the wanted logits copied out at once as
        a float32 ``(rows, n_vocab)`` array (llama.cpp keeps them in batch order)."""
        rows = self._fill_batch(items)
        ret = lc.llama_decode(self._ctx, self._batch)
        if ret == 1:
            raise KVCacheFull("no free KV cells for this batch")
        if ret != 0:
            raise RuntimeError(f"llama_decode failed with code {ret}")
        if not rows:
            return np.empty((0, self._n_vocab), dtype=np.float32)
        ptr = lc.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(ptr, shape=(len(rows), self._n_vocab)).copy()

    def _fill_batch(self, items: Sequence[BatchItem]) -> list[int]:
        total = sum(len(item.tokens) for item in items)
        if total > self._batch_tokens:
            raise ValueError(f"batch of {total} tokens exceeds batch_tokens={self._batch_tokens}")
        batch, i, rows = self._batch, 0, []
        for item in items:
            for k, token in enumerate(item.tokens):
                batch.token[i] = token
                batch.pos[i] = item.pos + k
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = item.seq_id
                batch.logits[i] = item.all_logits
                if item.all_logits:
                    rows.append(i)
                i += 1
            if item.logits and not item.all_logits:
                batch.logits[i - 1] = 1
                rows.append(i - 1)
        batch.n_tokens = i
        return rows

    def copy_sequence(self, src: int, dst: int) -> None:
        """``dst`` shares every KV cell of ``src`` (llama.cpp seq-copy, no recompute)."""
        lc.llama_memory_seq_cp(self._memory, src, dst, -1, -1)

    def copy_prefix(self, src: int, dst: int, n_tokens: int) -> None:
        """``dst`` shares ``src``'s cells for positions ``[0, n_tokens)``."""
        lc.llama_memory_seq_cp(self._memory, src, dst, 0, n_tokens)

    def save_block(self, seq_id: int, start: int, end: int) -> Blob:
        """Positions ``[start, end)`` of ``seq_id`` as llama.cpp state bytes (positions,
        then each layer's K and V rows), via the scratch sequence id."""
        scratch = self._scratch
        lc.llama_memory_seq_cp(self._memory, seq_id, scratch, start, end)
        try:
            size = lc.llama_state_seq_get_size_ext(self._ctx, scratch, 0)
            data = np.empty(size, dtype=np.uint8)
            written = lc.llama_state_seq_get_data_ext(self._ctx, _u8(data), size, scratch, 0)
            if written != size:
                raise RuntimeError(f"llama.cpp wrote {written} of {size} state bytes")
        finally:
            lc.llama_memory_seq_rm(self._memory, scratch, -1, -1)
        return data

    def restore_block(self, data: Blob, seq_id: int) -> None:
        """New cells for ``seq_id`` holding a saved block (at its original positions).
        Raises ``KVCacheFull`` when no contiguous free cells are left."""
        scratch = self._scratch
        if not lc.llama_state_seq_set_data_ext(self._ctx, _u8(data), len(data), scratch, 0):
            lc.llama_memory_seq_rm(self._memory, scratch, -1, -1)
            raise KVCacheFull("no free KV cells to restore a cached block")
        lc.llama_memory_seq_cp(self._memory, scratch, seq_id, -1, -1)
        lc.llama_memory_seq_rm(self._memory, scratch, -1, -1)

    def free_sequence(self, seq_id: int) -> None:
        """Remove all of ``seq_id``'s KV cells at once."""
        lc.llama_memory_seq_rm(self._memory, seq_id, -1, -1)

    def trim_sequence(self, seq_id: int, n_tokens: int) -> None:
        """Remove ``seq_id``'s cells at positions ``n_tokens`` and beyond."""
        lc.llama_memory_seq_rm(self._memory, seq_id, n_tokens, -1)

    def sequence_length(self, seq_id: int) -> int:
        """Positions llama.cpp holds for ``seq_id``: ``pos_max + 1`` (0 when empty)."""
        return int(lc.llama_memory_seq_pos_max(self._memory, seq_id)) + 1

    def close(self) -> None:
        """Free the context, batch and model (idempotent)."""
        if not self._closed:
            self._closed = True
            lc.llama_batch_free(self._batch)
            lc.llama_free(self._ctx)
            lc.llama_model_free(self._model)
