"""The Realtime API's entry points (API reference: Realtime): ephemeral client secrets
(``POST /v1/realtime/client_secrets``, beta ``POST /v1/realtime/sessions``) and the
sessions a WebSocket opens, wired to the chat model, Whisper, Piper and Silero VAD.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hearth.audio.registry import AudioRegistry
from hearth.audio.vad import SileroVad
from hearth.config import Settings
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
from hearth.services.realtime.items import Conversation
from hearth.services.realtime.response import Context, Emit
from hearth.services.realtime.session import RealtimeSession, SessionDeps
from hearth.services.realtime.wire import Vocabulary
from hearth.domain import Principal
from hearth.store.client_secrets import ClientSecret, ClientSecretStore

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
    """Realtime sessions over the server's models."""

    def __init__(self, settings: Settings, models: ModelRegistry, chat: ChatCompletions,
                 audio: AudioRegistry, secrets: ClientSecretStore) -> None:
        self._settings = settings
        self._models = models
        self._chat = chat
        self.audio = audio
        self.secrets = secrets
        self._vad: SileroVad | None = None
        self._vad_lock = threading.Lock()
        self.sessions_open = 0

    # ---- models and checks -------------------------------------------------------------

    def chat_model(self, model: str) -> str:
        """The chat model that answers for Realtime ``model``: OpenAI's realtime ids
        (``gpt-realtime*``, ``gpt-4o*-realtime-preview*``, ``gpt-audio*``) map to
        ``HEARTH_REALTIME_MODEL`` (default: the first chat model); a chat model id is used
        as is. Raises ``ModelNotFound``."""
        served = [m.id for m in self._models.list()]
        if model in served:
            return model
        if served and ("realtime" in model or model.startswith("gpt-audio")):
            return self._settings.realtime_model or served[0]
        raise ModelNotFound(f"The model `{model}` does not exist or you do not have access "
                            "to it.", param="model")

    def check(self, kind: str, value: Any) -> None:
        """Raise ``InvalidRequest`` / ``ModelNotFound`` for a voice or transcription model
        this server lacks."""
        if kind == "voice":
            if not self.audio.voices:
                raise InvalidRequest("Audio output needs a text-to-speech voice and none is "
                                     "installed (pip install 'hearth[tts]'); use "
                                     "output_modalities ['text'].", code="unsupported_value")
            self.audio.tts_voice("tts-1", str(value))
        elif kind == "transcription_model":
            self.audio.stt_model(str(value))

    def _vad_model(self) -> SileroVad | None:
        with self._vad_lock:
            if self._vad is None:
                self._vad = SileroVad()
            return self._vad

    def _warm(self, config: SessionConfig, stt: str) -> None:
        """Load the session's speech models on a worker now, so the first turn does not
        wait for them (each loads once and stays until idle)."""
        slots: list[Any] = []
        with contextlib.suppress(HearthError):
            slots.append(self.audio.stt_model((config.transcription or {}).get("model") or stt))
        if "audio" in config.output_modalities:
            with contextlib.suppress(HearthError):
                slots.append(self.audio.tts_voice("tts-1", config.voice))

        def load() -> None:
            self._vad_model()
            for slot in slots:
                with slot.use():
                    pass

        with contextlib.suppress(HearthError):  # a full queue: the first turn loads them
            self.audio.workers.submit(load)

    def rate_limits(self) -> list[dict[str, Any]]:
        """``rate_limits.updated``: this server's audio job capacity (requests)."""
        capacity = self._settings.audio_workers + self._settings.audio_max_waiting
        return [{"name": "requests", "limit": capacity,
                 "remaining": max(0, capacity - self.audio.workers.in_flight),
                 "reset_seconds": 0.0}]

    # ---- sessions ------------------------------------------------------------------------

    def _config(self, model: str, preset: dict[str, Any] | None,
                expires_at: int | None = None) -> SessionConfig:
        self.chat_model(model)
        config = new_config(model, self._settings.realtime_session_seconds)
        if expires_at is not None:
            config.expires_at = expires_at
        if not self.audio.voices:
            config.output_modalities = ["text"]
        if preset is not None and "beta" in preset:
            config = apply_beta(config, preset["beta"], self.check)
        elif preset is not None:
            config = apply_ga(config, preset.get("ga") or {}, self.check)
        return config

    def open(self, principal: Principal, model: str | None, beta: bool,
             secret: ClientSecret | None = None) -> RealtimeSession:
        """A new session for a WebSocket (``model`` from the URL, else the client
        secret's, else ``gpt-realtime``). Raises ``ModelNotFound``."""
        preset = secret.session if secret is not None else None
        model = model or (preset or {}).get("model") or DEFAULT_MODEL
        config = self._config(model, preset)
        chat_model = self.chat_model(model)

        def context(emit: Emit, conversation: Conversation) -> Context:
            return Context(self._chat, chat_model, principal.organization_id, self.audio,
                           conversation, emit)

        stt = self._settings.realtime_stt_model
        self._warm(config, stt)
        deps = SessionDeps(context, self.check, self._vad_model, stt, self.rate_limits,
                           int(self._settings.max_audio_seconds * 1000))
        return RealtimeSession(deps, config, Vocabulary(beta))

    # ---- client secrets ------------------------------------------------------------------

    def create_client_secret(self, principal: Principal,
                             params: ClientSecretParams) -> dict[str, Any]:
        """``{"value": "ek_...", "expires_at", "session"}`` (GA). Raises ``InvalidRequest``
        for a bad session (``param`` names the field)."""
        raw = dict(params.session or {})
        expires = params.expires_after or ExpiresAfter()
        expires_at = int(time.time()) + expires.seconds
        model = raw.get("model") or DEFAULT_MODEL
        config = self._config(model, {"ga": raw, "model": model}, expires_at)
        value = self.secrets.create(principal, {"ga": raw, "model": model}, expires_at)
        return {"value": value, "expires_at": expires_at, "session": render_ga(config)}

    def create_beta_session(self, principal: Principal,
                            params: BetaSessionParams) -> dict[str, Any]:
        """The beta session object with ``client_secret: {value, expires_at}``."""
        raw = params.model_dump(exclude={"client_secret"}, exclude_unset=True)
        options = params.client_secret.expires_after if params.client_secret else None
        expires_at = int(time.time()) + (options or ExpiresAfter()).seconds
        model = params.model or "gpt-4o-realtime-preview"
        config = self._config(model, {"beta": raw, "model": model}, expires_at)
        value = self.secrets.create(principal, {"beta": raw, "model": model}, expires_at)
        return {**render_beta(config),
                "client_secret": {"value": value, "expires_at": expires_at}}
