"""Prompt lookup decoding: draft tokens from a sequence's own context (engine thread).

When the last ``ngram`` tokens of a sequence (its prompt and what it has generated so
far) occurred before, the tokens that followed them then are a cheap guess at what
follows now: answers quote their prompt, conversations repeat earlier turns, and small
models repeat themselves. The scheduler feeds such a draft after the sequence's next
token in the same ``llama_decode``, with logits after every drafted position; the
stepper then samples each position exactly as plain decoding would and keeps drafted
tokens only while they equal the token it drew. The tokens are what plain decoding
draws from the same logits (the sampler consumes its RNG once per emitted token either
way), and ``seed`` still reproduces a request run alone; but a multi-token forward pass
rounds differently from a one-token one (as under load), so a seeded sampled answer may
part from the speculation-off engine's after some tokens.

Drafting pays where a forward pass is memory-bound: on 2 CPU cores a one-token step of
the bundled model takes ~12 ms and one with 8 tokens ~40 ms, so a draft is tried only
when a match exists and only while few sequences decode (``SpeculativeConfig``).

Sources: Saxena (2023), "Prompt Lookup Decoding"
(https://github.com/apoorvumang/prompt-lookup-decoding); Yang et al. (2023), "Inference
with Reference: Lossless Acceleration of Large Language Models", arXiv:2304.04487;
Leviathan et al. (2023), "Fast Inference from Transformers via Speculative Decoding",
arXiv:2211.17192 (verification in one forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SpeculativeConfig:
    """``draft_tokens``: most tokens drafted per sequence and step (0 turns drafting
    off); ``ngram``: tokens that must match before a draft is proposed;
    ``max_sequences``: draft only while at most this many sequences are decoding (past
    that the batch is already large enough that a drafted token costs about as much as
    the step time it might save)."""

    draft_tokens: int = 8
    ngram: int = 3
    max_sequences: int = 2

    @property
    def enabled(self) -> bool:
        return self.draft_tokens > 0


class NgramDrafter:
    """An index of one sequence's context: each ``ngram``-token window -> the position
    right after its most recent occurrence.

    ``extend`` appends tokens (prompt, then each token as it is fed); ``propose`` looks
    up the window ending with the token about to be fed. Memory: one dict entry per
    distinct window of the context.
    """

    def __init__(self, ngram: int) -> None:
        if ngram < 1:
            raise ValueError("ngram must be at least 1")
        self._n = ngram
        self._context: list[int] = []
        self._after: dict[tuple[int, ...], int] = {}

    def __len__(self) -> int:
        return len(self._context)

    def extend(self, tokens: Sequence[int]) -> None:
        """Append ``tokens`` to the context, indexing every window they complete."""
        context, after, n = self._context, self._after, self._n
        for token in tokens:
            if len(context) >= n:
                after[tuple(context[-n:])] = len(context)
            context.append(token)

    def propose(self, next_token: int, limit: int) -> list[int]:
        """Up to ``limit`` tokens that followed the last occurrence of the window ending
        with ``next_token`` (the context's last ``ngram - 1`` tokens, then it); empty
        when that window never occurred or ``limit`` < 1. A match that runs into the end
        of the context continues with ``next_token`` and the draft itself, so a pattern
        repeating with a short period is drafted ``limit`` tokens ahead."""
        n, context = self._n, self._context
        if limit < 1 or len(context) < n - 1:
            return []
        window = (*context[len(context) - (n - 1) :], next_token)
        start = self._after.get(window)
        if start is None:
            return []
        draft = context[start : start + limit]
        end = len(context)  # the draft continues context + [next_token] + draft
        for j in range(start + len(draft), start + limit):
            draft.append(next_token if j == end else draft[j - end - 1])
        return draft
