"""Quality cost of converting weights: how well each format predicts a fixed English text.

Scores ``benchmarks/passage.txt`` (422 tokens) with llama.cpp under the bundled Q4_1 GGUF
as shipped and under each conversion Hearth can serve (q8_0, q4_0, f16; converted with
Hearth's own ``converted()``, i.e. llama.cpp's quantizer, into a temp dir). For every
format prints the mean log-probability per token of the text (higher is better), its
difference from the original, and how far the whole next-token distribution moved
(mean KL divergence from the original, top-1 agreement with the original).

Prints one JSON document on stdout; nothing here asserts on the figures.

Usage: .venv/bin/python benchmarks/quality.py [--formats original,q8_0,q4_0,f16]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

from hearth.engine.llamacpp import quiet_llama_logs
from hearth.engine.weights import bundled_chat_model, converted

FORMATS = ("original", "q8_0", "q4_0", "f16")
PASSAGE = Path(__file__).with_name("passage.txt")
DOC_START = 0  # <|endoftext|>: the document separator SmolLM2 was pretrained with

LogProbs = npt.NDArray[np.float32]


def read_text(path: Path) -> str:
    """The text, each paragraph joined onto one line."""
    paragraphs = path.read_text(encoding="utf-8").strip().split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def tokenize(model: Path, text: str) -> list[int]:
    """``text`` in the model's own tokens (every format shares the original's vocabulary)."""
    vocab = llama_cpp.Llama(str(model), vocab_only=True, verbose=False)
    return list(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def log_softmax(logits: npt.NDArray[np.float32]) -> LogProbs:
    """Row-wise log-softmax, computed in float64 and stored as float32."""
    x = logits.astype(np.float64)
    x -= x.max(axis=1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    return x.astype(np.float32)


def describe(llm: llama_cpp.Llama) -> str:
    """llama.cpp's description of the loaded weights, e.g. ``llama ?B Q4_1``."""
    buf = ctypes.create_string_buffer(256)
    llama_cpp.llama_model_desc(llm.model, buf, len(buf))
    return buf.value.decode("utf-8", "replace")


@dataclass
class Scored:
    """Next-token log-probabilities at every position of one format's pass over the text."""

    description: str
    logprobs: LogProbs  # (positions, vocab): row i predicts token i + 1 of the input
    seconds: float


def score(model: Path, tokens: list[int], threads: int) -> Scored:
    """One llama.cpp forward pass over ``[DOC_START] + tokens`` keeping every position's
    logits; returns the log-softmax of the rows that predict ``tokens``."""
    ids = [DOC_START, *tokens]
    n_ctx = max(512, -(-len(ids) // 256) * 256)
    start = time.perf_counter()
    llm = llama_cpp.Llama(
        str(model),
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_ubatch=n_ctx,
        logits_all=True,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    try:
        llm.eval(ids)
        logits = np.array(llm.scores[: len(ids) - 1], dtype=np.float32)
        description = describe(llm)
    finally:
        llm.close()
    return Scored(description, log_softmax(logits), time.perf_counter() - start)


def token_logprobs(scored: Scored, tokens: list[int]) -> npt.NDArray[np.float64]:
    """Log-probability the model gave each actual token of the text."""
    return scored.logprobs[np.arange(len(tokens)), np.asarray(tokens)].astype(np.float64)


def compare(scored: Scored, base: Scored, tokens: list[int]) -> dict[str, Any]:
    """Figures for one format, against the original's."""
    mean = float(token_logprobs(scored, tokens).mean())
    base_mean = float(token_logprobs(base, tokens).mean())
    p_base = np.exp(base.logprobs.astype(np.float64))
    kl = (p_base * (base.logprobs.astype(np.float64) - scored.logprobs)).sum(axis=1)
    top1 = scored.logprobs.argmax(axis=1) == base.logprobs.argmax(axis=1)
    return {
        "weights": scored.description,
        "mean_logprob": mean,
        "perplexity": float(np.exp(-mean)),
        "delta_vs_original": mean - base_mean,
        "mean_kl_from_original": float(kl.mean()),
        "top1_agreement_with_original": float(top1.mean()),
        "score_seconds": scored.seconds,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help="comma-separated formats; 'original' is always scored",
    )
    parser.add_argument("--text", type=Path, default=PASSAGE, help="UTF-8 text file to score")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in args.formats if f not in FORMATS]
    if bad:
        parser.error(f"unknown weight format(s) {bad}; choose from {', '.join(FORMATS)}")
    if "original" not in args.formats:
        args.formats.insert(0, "original")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_llama_logs()  # llama.cpp's loader chatter goes to logging at DEBUG
    source = bundled_chat_model().path
    tokens = tokenize(source, read_text(args.text))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-quality-") as tmp:
        base = score(source, tokens, args.threads)
        for fmt in args.formats:
            print(f"[quality] {fmt}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            path = converted(source, fmt, Path(tmp))
            convert_s = time.perf_counter() - start
            scored = base if fmt == "original" else score(path, tokens, args.threads)
            results[fmt] = {
                **compare(scored, base, tokens),
                "file_bytes": path.stat().st_size,
                "convert_seconds": 0.0 if fmt == "original" else convert_s,
            }
    doc = {
        "benchmark": "quality",
        "text": {
            "file": str(args.text),
            "tokens": len(tokens),
            "scored_tokens": len(tokens),
            "context": "<|endoftext|> then the text",
        },
        "llama_cpp_python": llama_cpp.__version__,
        "threads": args.threads,
        "formats": results,
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
