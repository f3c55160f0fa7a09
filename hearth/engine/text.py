"""Incremental detokenization with stop sequences.

Tokens arrive as raw bytes (a UTF-8 character may span tokens). ``TextAssembler`` turns
them into text deltas that are safe to send: a character is never split, and text that
might be the start of a stop sequence is held back until it is known not to be one, so a
stop sequence is never emitted even when it spans token boundaries (OpenAI's ``stop``).
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TextStep:
    """What one token released: ``text`` safe to emit; ``stopped`` when a stop sequence
    matched (``text`` then ends right before it); ``released_tokens`` how many of the
    tokens fed so far (and not yet released) the text covers."""

    text: str
    stopped: bool
    released_tokens: int


class TextAssembler:
    """Feed token bytes one at a time; get back emit-safe text (see module doc)."""

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._stop = [s for s in stop if s]
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""
        # (start, end) of each unreleased token in _held; start < 0 once partly emitted
        self._spans: list[tuple[int, int]] = []

    def feed(self, data: bytes) -> TextStep:
        """Add one token's bytes; return what may be emitted now."""
        start = len(self._held)
        self._held += self._decoder.decode(data)
        self._spans.append((start, len(self._held)))
        hit = self._find_stop()
        if hit is not None:
            return self._release(hit, stopped=True)
        return self._release(len(self._held) - self._partial_stop_len(), stopped=False)

    def flush(self) -> TextStep:
        """End of generation without a stop match: release everything held."""
        self._held += self._decoder.decode(b"", final=True)
        if self._spans:
            self._spans[-1] = (self._spans[-1][0], len(self._held))
        return self._release(len(self._held), stopped=False, final=True)

    def _find_stop(self) -> int | None:
        hits = [i for i in (self._held.find(s) for s in self._stop) if i >= 0]
        return min(hits) if hits else None

    def _partial_stop_len(self) -> int:
        """Length of the longest suffix of held text that is a proper prefix of a stop."""
        best = 0
        for stop in self._stop:
            for k in range(min(len(stop) - 1, len(self._held)), best, -1):
                if self._held.endswith(stop[:k]):
                    best = k
                    break
        return best

    def _release(self, upto: int, *, stopped: bool, final: bool = False) -> TextStep:
        text = self._held[:upto]
        if stopped:  # tokens that contributed text before the stop; the rest are dropped
            n = sum(1 for start, _ in self._spans if start < upto)
        else:  # tokens whose text is wholly released (and not mid-character)
            incomplete = not final and self._decoder.getstate()[0] != b""
            n = sum(
                1
                for _, end in self._spans
                if end <= upto and not (incomplete and end == len(self._held))
            )
        self._held = self._held[upto:]
        self._spans = [] if stopped else [(a - upto, b - upto) for a, b in self._spans[n:]]
        return TextStep(text=text, stopped=stopped, released_tokens=n)
