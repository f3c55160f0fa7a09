"""Splitting extracted text into overlapping token windows (OpenAI's ``chunking_strategy``),
counted with the embedding model's own tokenizer.

``static``: chunks of ``max_chunk_size_tokens`` starting every ``max_chunk_size_tokens -
chunk_overlap_tokens`` tokens; ``auto`` is OpenAI's 800 / 400. Each chunk keeps the
character offsets of its first and last token in the extracted text, so a citation can
point back into the file. A chunk longer than the embedding model reads is embedded as the
mean of its windows' vectors (``window_token_lists``; docs/retrieval.md says why).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

AUTO_MAX_TOKENS = 800
AUTO_OVERLAP_TOKENS = 400
MAX_FILE_TOKENS = 5_000_000
"""Tokens of one file a vector store takes (OpenAI's limit); more fails the file."""
_PIECE_CHARS = 1_000_000


@dataclass(frozen=True)
class Chunk:
    """Token ids of one chunk and its ``[start, end)`` characters in the text."""

    tokens: list[int]
    start: int
    end: int


class TooManyTokens(ValueError):
    """The text has more than ``MAX_FILE_TOKENS`` tokens."""


def tokenize_long(
    text: str,
    tokenize: Callable[[list[str]], list[tuple[list[int], list[tuple[int, int]]]]],
    limit: int = MAX_FILE_TOKENS,
) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets of ``text``, tokenized in ~1 MB pieces cut at
    whitespace (a batch at a time, so a huge file fails fast). Raises ``TooManyTokens``
    past ``limit``."""
    pieces: list[tuple[int, str]] = []
    at = 0
    while at < len(text):
        end = min(len(text), at + _PIECE_CHARS)
        if end < len(text):
            space = text.rfind(" ", at + _PIECE_CHARS // 2, end)
            end = space + 1 if space > 0 else end
        pieces.append((at, text[at:end]))
        at = end
    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    for group in range(0, len(pieces), 8):
        batch = pieces[group : group + 8]
        for (base, _), (piece_ids, piece_offsets) in zip(
            batch, tokenize([p for _, p in batch]), strict=True
        ):
            ids += piece_ids
            offsets += [(base + s, base + e) for s, e in piece_offsets]
        if len(ids) > limit:
            raise TooManyTokens(f"The file has more than {limit} tokens.")
    return ids, offsets


def chunk_tokens(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], max_tokens: int, overlap: int
) -> list[Chunk]:
    """Windows of ``max_tokens`` tokens, each starting ``max_tokens - overlap`` after the
    previous; the last one ends at the text's end."""
    step = max_tokens - overlap
    chunks: list[Chunk] = []
    start = 0
    while start < len(ids):
        end = min(len(ids), start + max_tokens)
        chunks.append(Chunk(list(ids[start:end]), offsets[start][0], offsets[end - 1][1]))
        if end == len(ids):
            break
        start += step
    return chunks


def window_token_lists(tokens: Sequence[int], window: int) -> list[list[int]]:
    """``tokens`` cut into consecutive windows of at most ``window`` (the model's input
    length), the last one shifted back to be full when the chunk is longer."""
    if len(tokens) <= window:
        return [list(tokens)]
    out = [list(tokens[i : i + window]) for i in range(0, len(tokens) - window + 1, window)]
    if (len(tokens) - window) % window:
        out.append(list(tokens[-window:]))
    return out
