"""Cutting streamed model text into pieces to synthesize as soon as each is complete.

A piece ends at a sentence end (``.``, ``!``, ``?``, ``…`` or a newline, followed by
whitespace). The first piece of a response may also end at a clause break (``,`` ``;``
``:``) once it has a few words, so the first audio starts sooner; a run-on sentence is
cut at a clause break past ``max_chars``.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s|\n")
_CLAUSE_END = re.compile(r"[,;:]\s")


class SentenceSplitter:
    """``feed(text)`` returns the pieces it completes; ``flush()`` the rest."""

    def __init__(self, first_clause_chars: int = 24, max_chars: int = 200) -> None:
        self._buffer = ""
        self._first = True
        self._first_clause_chars = first_clause_chars
        self._max_chars = max_chars

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        out: list[str] = []
        while True:
            cut = self._cut()
            if cut is None:
                return out
            piece, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if piece:
                out.append(piece)
                self._first = False

    def _cut(self) -> int | None:
        match = _SENTENCE_END.search(self._buffer)
        if match:
            return match.end()
        limit = self._first_clause_chars if self._first else self._max_chars
        if len(self._buffer) >= limit:
            clauses = [
                m.end()
                for m in _CLAUSE_END.finditer(self._buffer)
                if m.end() >= limit or not self._first
            ]
            if clauses:
                return clauses[0] if self._first else clauses[-1]
        return None

    def flush(self) -> str:
        piece, self._buffer = self._buffer.strip(), ""
        return piece
