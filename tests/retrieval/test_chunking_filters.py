"""Chunk windows, the long-text tokenizer's limit, and attribute filter semantics."""

from __future__ import annotations

import pytest

from hearth.retrieval.chunking import (
    TooManyTokens,
    chunk_tokens,
    tokenize_long,
    window_token_lists,
)
from hearth.retrieval.filters import ComparisonFilter, CompoundFilter, matches
from hearth.services.vector_stores.search import fuse, rewrite


def test_static_chunks_overlap_and_cover_the_text() -> None:
    ids = list(range(1000))
    offsets = [(i * 2, i * 2 + 1) for i in ids]
    chunks = chunk_tokens(ids, offsets, 400, 100)
    assert [c.tokens[0] for c in chunks] == [0, 300, 600]
    assert chunks[-1].tokens[-1] == 999 and len(chunks[-1].tokens) == 400
    assert (chunks[0].start, chunks[0].end) == (0, 799)
    assert chunk_tokens(ids[:50], offsets[:50], 400, 100)[0].tokens == ids[:50]


def test_windows_cover_a_long_chunk() -> None:
    assert window_token_lists(list(range(10)), 254) == [list(range(10))]
    windows = window_token_lists(list(range(600)), 254)
    assert [w[0] for w in windows] == [0, 254, 346]
    assert all(len(w) == 254 for w in windows)


def test_tokenize_long_keeps_offsets_and_stops_past_the_limit() -> None:
    def tokenize(pieces: list[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        out = []
        for piece in pieces:
            spans, at = [], 0
            for word in piece.split(" "):
                if word:
                    spans.append((at, at + len(word)))
                at += len(word) + 1
            out.append((list(range(len(spans))), spans))
        return out

    text = "alpha beta gamma " * 10
    ids, offsets = tokenize_long(text, tokenize)
    assert len(ids) == 30 and text[offsets[4][0] : offsets[4][1]] == "beta"
    with pytest.raises(TooManyTokens):
        tokenize_long(text, tokenize, limit=20)


ATTRS = {"year": 2024, "region": "eu", "public": True, "date": "2024-05-01"}


@pytest.mark.parametrize(
    ("kind", "key", "value", "expected"),
    [
        ("eq", "region", "eu", True),
        ("eq", "region", "us", False),
        ("ne", "region", "us", True),
        ("ne", "missing", "x", True),
        ("gt", "year", 2023, True),
        ("gte", "year", 2024, True),
        ("lt", "year", 2024, False),
        ("lte", "year", 2024.0, True),
        ("gt", "date", "2024-01-01", True),
        ("gt", "region", 1, False),  # a string never orders against a number
        ("eq", "public", True, True),
        ("eq", "public", 1, False),  # nor a boolean equal a number
        ("in", "region", ["us", "eu"], True),
        ("nin", "region", ["us", "eu"], False),
        ("nin", "missing", ["x"], True),
        ("lt", "missing", 5, False),
    ],
)
def test_comparison(kind: str, key: str, value: object, expected: bool) -> None:
    flt = ComparisonFilter.model_validate({"type": kind, "key": key, "value": value})
    assert matches(flt, ATTRS) is expected


def test_compound_nesting() -> None:
    flt = CompoundFilter.model_validate(
        {
            "type": "or",
            "filters": [
                {"type": "eq", "key": "region", "value": "us"},
                {
                    "type": "and",
                    "filters": [
                        {"type": "gte", "key": "year", "value": 2020},
                        {"type": "eq", "key": "public", "value": True},
                    ],
                },
            ],
        }
    )
    assert matches(flt, ATTRS) and not matches(flt, {"year": 2019, "public": True})


def test_fusion_scores_are_in_unit_range_and_weighted() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, -0.2)]
    text = [(2, 12.0), (4, 3.0)]
    relative = fuse(dense, text, 1, 1, "relative")
    assert relative[2] == pytest.approx((0.5 + 1.0) / 2)
    assert relative[3] == 0.0 and all(0 <= s <= 1 for s in relative.values())
    rrf = fuse(dense, text, 1, 1, "rrf")
    assert max(rrf.values()) <= 1 and rrf[2] > rrf[1] > rrf[4]
    assert fuse(dense, [], 1, 0, "relative") == {1: 0.9, 2: 0.5, 3: 0.0}


def test_rewrite_drops_question_words() -> None:
    assert rewrite("What is the tuning of the foghorn?") == "tuning foghorn"
    assert rewrite("the of") == "the of"
