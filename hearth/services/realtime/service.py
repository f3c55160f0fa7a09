"""The Realtime API's entry points (API reference: Realtime): ephemeral client secrets
(``POST /v1/realtime/client_secrets``, beta ``POST /v1/realtime/sessions``) and the
sessions a WebSocket opens, wired to the chat model, Whisper, Piper and Silero VAD.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from openai.types.beta.realtime.session_create_response import SessionCreateResponse
from openai.types.realtime.client_secret_create_response import ClientSecretCreateResponse
from pydantic import BaseModel, ConfigDict, Field

from hearth.audio.registry import AudioRegistry
from hearth.audio.slots import LazyModel
from hearth.audio.vad import SileroVad
from hearth.config import AudioSettings, RealtimeSettings
from hearth.domain import Principal
from hearth.engine.registry import ModelRegistry
from hearth.errors import HearthError, InvalidRequest, ModelNotFound
from hearth.services.chat.completions import ChatCompletions
from hearth.services.realtime.config import (
    SessionConfig,
    apply_beta,
    apply_ga,
    new_config,
    render_beta,
    render_ga,
)
from hearth.services.realtime.events import Emit
from hearth.services.realtime.items import Conversation
from hearth.services.realtime.response import Context
from hearth.services.realtime.session import RealtimeSession, SessionDeps
from hearth.services.realtime.wire import Vocabulary
from hearth.services.usage import UsageMeter
from hearth.store.client_secrets import PREFIX, ClientSecret, ClientSecretStore

DEFAULT_MODEL = "gpt-realtime"


class ExpiresAfter(BaseModel):
    """``expires_after``: seconds after creation (10 to 7,200; OpenAI's default 600)."""

    model_config = ConfigDict(extra="forbid")
    anchor: str = "created_at"
    seconds: int = Field(default=600, ge=10, le=7200)


class ClientSecretParams(BaseModel):
    """Body of ``POST /v1/realtime/client_secrets``."""

    model_config = ConfigDict(extra="allow")
    expires_after: ExpiresAfter | None = None
    session: dict[str, Any] | None = None


class BetaSecretOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    expires_after: ExpiresAfter | None = None


class BetaSessionParams(BaseModel):
    """Body of the beta ``POST /v1/realtime/sessions``: a flat session plus
    ``client_secret.expires_after``."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    client_secret: BetaSecretOptions | None = None


class Realtime:
    """Realtime sessions over the server's models (``settings``: its ``realtime``
    section; ``speech``: the audio workers' and buffer limits)."""

    def __init__(
        self,
        settings: RealtimeSettings,
        speech: AudioSettings,
        models: ModelRegistry,
        chat: ChatCompletions,
        audio: AudioRegistry,
        secrets: ClientSecretStore,
        meter: UsageMeter | None = None,
    ) -> None:
        self._settings = settings
        self._meter = meter
        self._speech = speech
        self._models = models
        self._chat = chat
        self._audio = audio
        self._secrets = secrets
        self._vad: SileroVad | None = None
        self._vad_lock = threading.Lock()
        self._loading: set[str] = set()  # speech models a warm-up job is loading
        self._tasks: set[asyncio.Task[None]] = set()
        self.sessions_open = 0
        """Sessions being served now (``GET /hearth/engine``)."""

    # ---- models and checks -------------------------------------------------------------

    def _chat_model(self, model: str) -> str:
        """The chat model that answers for Realtime ``model``: OpenAI's realtime ids
        (``gpt-realtime*``, ``gpt-4o*-realtime-preview*``, ``gpt-audio*``) map to
        ``HEARTH_REALTIME_MODEL`` (default: the first chat model); a chat model id is used
        as is. Raises ``ModelNotFound``."""
        served = [m.id for m in self._models.list()]
        if model in served:
            return model
        if served and ("realtime" in model or model.startswith("gpt-audio")):
            return self._settings.model or served[0]
        raise ModelNotFound(
            f"The model `{model}` does not exist or you do not have access to it.", param="model"
        )

    def _check(self, kind: str, value: Any) -> None:
        """Raise ``InvalidRequest`` / ``ModelNotFound`` for a voice or transcription model
        this server lacks."""
        if kind == "voice":
            if not self._audio.voices:
                raise InvalidRequest(
                    "Audio output needs a text-to-speech voice and none is "
                    "installed (pip install 'hearth[tts]'); use "
                    "output_modalities ['text'].",
                    code="unsupported_value",
                )
            self._audio.tts_voice("tts-1", str(value))
        elif kind == "transcription_model":
            self._audio.stt_model(str(value))

    def _vad_model(self) -> SileroVad | None:
        """Silero VAD, loaded on first call (blocking: workers and threads call it)."""
        with self._vad_lock:
            if self._vad is None:
                self._vad = SileroVad()
            return self._vad

    def _warm(self, config: SessionConfig) -> None:
        """Load the speech models ``config``'s turns use, in the background, so the
        first turn does not wait for them: Silero VAD (on a thread of its own, it is
        needed first), then on the audio workers the fast Whisper model, the voice and
        the session's transcription model. Each loads once and stays until idle;
        models loaded or loading already are skipped."""
        if config.turn_detection is not None and self._vad is None:
            self._background(asyncio.to_thread(self._vad_model))
        slots: list[LazyModel[Any]] = []

        def add(find: Callable[[], LazyModel[Any]]) -> None:
            with contextlib.suppress(HearthError):  # not installed: the turn says so
                slots.append(find())

        add(lambda: self._audio.stt_model(self._settings.stt_model))
        if "audio" in config.output_modalities:
            add(lambda: self._audio.tts_voice("tts-1", config.voice))
        if stt := (config.transcription or {}).get("model"):
            add(lambda: self._audio.stt_model(stt))
        for slot in slots:
            if slot.loaded or slot.name in self._loading:
                continue
            self._loading.add(slot.name)
            try:
                job = self._audio.workers.submit(functools.partial(_load, slot))
            except HearthError:  # a full queue: the first turn loads it
                self._loading.discard(slot.name)
                continue
            job.add_done_callback(functools.partial(self._loaded, slot.name))

    def _loaded(self, name: str, _: object) -> None:
        self._loading.discard(name)

    def _background(self, work: Awaitable[Any]) -> None:
        """Run ``work`` as a task that nobody awaits; its errors are dropped (the turn
        that needs the model meets them again)."""

        async def run() -> None:
            with contextlib.suppress(Exception):
                await work

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _rate_limits(self) -> list[dict[str, Any]]:
        """``rate_limits.updated``: this server's audio job capacity (requests)."""
        capacity = self._speech.workers + self._speech.max_waiting
        return [
            {
                "name": "requests",
                "limit": capacity,
                "remaining": max(0, capacity - self._audio.workers.in_flight),
                "reset_seconds": 0.0,
            }
        ]

    def _config(
        self, model: str, preset: dict[str, Any] | None, expires_at: int | None = None
    ) -> SessionConfig:
        self._chat_model(model)
        config = new_config(model, self._settings.session_seconds)
        if expires_at is not None:
            config.expires_at = expires_at
        if not self._audio.voices:
            config.output_modalities = ["text"]
        if preset is not None and "beta" in preset:
            config = apply_beta(config, preset["beta"], self._check)
        elif preset is not None:
            config = apply_ga(config, preset.get("ga") or {}, self._check)
        return config

    # ---- sessions ------------------------------------------------------------------------

    async def verify_client_secret(self, key: str) -> ClientSecret | None:
        """The grant of an ``ek_`` client secret, or None if ``key`` is none, unknown or
        expired."""
        if not key.startswith(PREFIX):
            return None
        return await asyncio.to_thread(self._secrets.verify, key)

    async def open(
        self, caller: Principal, model: str | None, beta: bool, secret: ClientSecret | None = None
    ) -> RealtimeSession:
        """A new session for a WebSocket, in the beta vocabulary or GA (``model`` from
        the URL, else the client secret's, else ``gpt-realtime``; ``secret``: the client
        secret it was opened with, whose session settings apply). Raises
        ``ModelNotFound``, or ``InvalidRequest`` for settings this server cannot serve."""
        preset = secret.session if secret is not None else None
        model = model or (preset or {}).get("model") or DEFAULT_MODEL
        config = self._config(model, preset)
        chat_model = self._chat_model(model)

        def context(emit: Emit, conversation: Conversation) -> Context:
            return Context(
                self._chat, chat_model, caller, self._audio, conversation, emit, self._meter
            )

        self._warm(config)
        # a fine-tuned chat model loads on first use: now, not at the first turn
        self._background(self._chat.check_model(caller, chat_model))
        deps = SessionDeps(
            context,
            self._check,
            self._vad_model,
            self._settings.stt_model,
            self._rate_limits,
            int(self._speech.max_audio_seconds * 1000),
            self._warm,
        )
        return RealtimeSession(deps, config, Vocabulary(beta))

    async def serve(
        self,
        caller: Principal,
        session: RealtimeSession,
        receive: Callable[[], Awaitable[str]],
        send: Callable[[str], Awaitable[None]],
    ) -> None:
        """Run ``session`` over a connection's text frames until ``receive`` raises (the
        client left) or the session expires (its last event: ``error``,
        ``session_expired``)."""
        self.sessions_open += 1
        try:
            await session.run(receive, send)
        finally:
            self.sessions_open -= 1

    # ---- client secrets ------------------------------------------------------------------

    async def create_client_secret(
        self, caller: Principal, params: ClientSecretParams
    ) -> ClientSecretCreateResponse:
        """``client.realtime.client_secrets.create``: ``{"value": "ek_...", "expires_at",
        "session"}``. ``session.type`` defaults to ``realtime``. Raises
        ``InvalidRequest`` for a bad session (``param`` names the field) and
        ``ModelNotFound``."""
        raw = {"type": "realtime", **(params.session or {})}
        fields = Vocabulary(beta=False).session_fields(raw)
        expires = params.expires_after or ExpiresAfter()
        expires_at = int(time.time()) + expires.seconds
        model = fields.get("model") or DEFAULT_MODEL
        preset = {"ga": fields, "model": model}
        config = self._config(model, preset, expires_at)
        value = await asyncio.to_thread(self._secrets.create, caller, preset, expires_at)
        return ClientSecretCreateResponse.model_validate(
            {"value": value, "expires_at": expires_at, "session": render_ga(config)}
        )

    async def create_beta_session(
        self, caller: Principal, params: BetaSessionParams
    ) -> SessionCreateResponse:
        """``client.beta.realtime.sessions.create``: the beta session object with
        ``client_secret: {value, expires_at}``. Raises as ``create_client_secret``."""
        raw = params.model_dump(exclude={"client_secret", "model"}, exclude_unset=True)
        fields = Vocabulary(beta=True).session_fields(raw)
        options = params.client_secret.expires_after if params.client_secret else None
        expires_at = int(time.time()) + (options or ExpiresAfter()).seconds
        model = params.model or "gpt-4o-realtime-preview"
        preset = {"beta": fields, "model": model}
        config = self._config(model, preset, expires_at)
        value = await asyncio.to_thread(self._secrets.create, caller, preset, expires_at)
        return SessionCreateResponse.model_validate(
            {**render_beta(config), "client_secret": {"value": value, "expires_at": expires_at}}
        )


def _load(slot: LazyModel[Any]) -> None:
    """On an audio worker: load ``slot`` (if not loaded) and leave it loaded."""
    with slot.use():
        pass
