"""The ModelRunner protocol: what the scheduler needs from an in-process backend.

A runner tokenizes, holds KV cells per sequence id and computes next-token logits for a
batch of sequences in one forward pass. The llama.cpp runner is the embedded default; a
transformers runner would implement the same protocol. Services never see a runner: they
use ``engine.served.ServedModel`` (a remote engine is a ``ServedModel``, not a runner).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from llguidance import LLTokenizer

from hearth.engine.prefix_cache import Blob

Logits = np.ndarray | Sequence[np.ndarray]
"""A forward pass's logits rows: one 2-D ``(rows, n_vocab)`` array, or a list of rows."""


@dataclass(frozen=True)
class BatchItem:
    """Tokens of one sequence to feed at consecutive positions ``pos, pos+1, ...``.

    ``logits``: whether the next-token logits after the last token are wanted;
    ``all_logits``: the logits after every token instead (scoring a prompt), one row per
    token in order.
    """

    seq_id: int
    tokens: Sequence[int]
    pos: int
    logits: bool
    all_logits: bool = False


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a loaded model that the API reports.

    ``context_length``: tokens one sequence may hold (prompt + completion), the
    configured length capped at ``n_ctx_train``; ``path``: the served weights file."""

    id: str
    path: str
    n_vocab: int
    n_ctx_train: int
    context_length: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    fingerprint: str
    description: str


class ModelRunner(Protocol):
    """A loaded model with KV cells for up to ``max_sequences`` sequence ids."""

    info: ModelInfo
    max_sequences: int
    context_length: int
    kv_cells: int

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Token ids of ``text``; ``special`` parses control tokens like ``<|im_end|>``."""
        ...

    def token_bytes(self, token: int) -> bytes:
        """The raw bytes a token stands for (may be part of a UTF-8 character)."""
        ...

    def is_end_of_generation(self, token: int) -> bool:
        """True for EOS/EOT-like tokens that end a completion."""
        ...

    def grammar_tokenizer(self) -> LLTokenizer:
        """The vocabulary for llguidance token masks (EOS = the end-of-generation ids)."""
        ...

    def decode(self, items: Sequence[BatchItem]) -> Logits:
        """Run one forward pass; return float32 logits (shape ``(n_vocab,)``), one per
        item with ``logits=True`` (one per token with ``all_logits``), in order (a list,
        or the rows of one 2-D array). Raises ``KVCacheFull`` if cells run out."""
        ...

    def copy_sequence(self, src: int, dst: int) -> None:
        """Make ``dst`` share all of ``src``'s KV cells (no recompute)."""
        ...

    def copy_prefix(self, src: int, dst: int, n_tokens: int) -> None:
        """``dst`` shares ``src``'s cells for positions ``[0, n_tokens)``."""
        ...

    def save_block(self, seq_id: int, start: int, end: int) -> Blob:
        """A host copy of ``seq_id``'s cells for positions ``[start, end)``."""
        ...

    def restore_block(self, data: Blob, seq_id: int) -> None:
        """New cells for ``seq_id`` holding a block from ``save_block``."""
        ...

    def free_sequence(self, seq_id: int) -> None:
        """Drop every KV cell of ``seq_id``."""
        ...

    def trim_sequence(self, seq_id: int, n_tokens: int) -> None:
        """Drop ``seq_id``'s cells at positions ``n_tokens`` and beyond."""
        ...

    def sequence_length(self, seq_id: int) -> int:
        """Positions held in the KV cache for ``seq_id`` (0 when free)."""
        ...

    def close(self) -> None:
        """Free the model (idempotent); nothing may call the runner afterwards."""
        ...


class KVCacheFull(RuntimeError):
    """The backend found no free KV cells for a batch."""
