"""A Realtime session's configuration, kept in one internal form and read from / written
to both of OpenAI's vocabularies (API reference: Realtime, "Session object"; GA nests
audio settings under ``audio.input`` / ``audio.output``, beta keeps them flat).

Updates are partial: a field left out keeps its value, ``null`` clears the nullable
ones (``turn_detection: null`` switches to push-to-talk). Every value is checked before
any is applied, so a bad ``session.update`` changes nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hearth.errors import InvalidRequest, array_above_max_length
from hearth.services.chat.params import MAX_TOOLS

AudioFormat = str  # "pcm16" | "g711_ulaw" | "g711_alaw" (beta's names)

GA_FORMATS: dict[str, dict[str, Any]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_FROM_GA = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}

DEFAULT_INSTRUCTIONS = (
    "You are a helpful, friendly voice assistant. Answer briefly, in one "
    "or two short sentences, as in a spoken conversation."
)

SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}
"""``semantic_vad`` is served by Silero VAD: its ``eagerness`` picks how long a silence
ends the turn (Hearth has no end-of-turn classifier)."""


@dataclass
class TurnDetection:
    """``turn_detection``: ``server_vad`` (or ``semantic_vad``) with OpenAI's defaults."""

    type: str = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = None
    eagerness: str = "auto"

    @property
    def silence_ms(self) -> int:
        if self.type == "semantic_vad":
            return SEMANTIC_SILENCE_MS[self.eagerness]
        return self.silence_duration_ms

    def wire(self) -> dict[str, Any]:
        if self.type == "semantic_vad":
            return {
                "type": "semantic_vad",
                "eagerness": self.eagerness,
                "create_response": self.create_response,
                "interrupt_response": self.interrupt_response,
            }
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "idle_timeout_ms": self.idle_timeout_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }


@dataclass
class SessionConfig:
    """One session's settings (the union of both vocabularies' fields)."""

    model: str
    id: str = field(default_factory=lambda: "sess_" + secrets.token_urlsafe(16))
    expires_at: int = 0
    output_modalities: list[str] = field(default_factory=lambda: ["audio"])
    instructions: str = DEFAULT_INSTRUCTIONS
    voice: str = "alloy"
    speed: float = 1.0
    input_format: AudioFormat = "pcm16"
    output_format: AudioFormat = "pcm16"
    transcription: dict[str, Any] | None = None
    noise_reduction: dict[str, Any] | None = None
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | dict[str, Any] = "auto"
    temperature: float = 0.8
    max_output_tokens: int | str = "inf"

    def copy(self) -> SessionConfig:
        return dataclasses.replace(
            self,
            tools=list(self.tools),
            output_modalities=list(self.output_modalities),
            turn_detection=dataclasses.replace(self.turn_detection)
            if self.turn_detection
            else None,
        )


Check = Callable[[str, Any], None]
"""``check(kind, value)`` raises ``InvalidRequest`` for a voice / transcription model this
server lacks (``kind``: ``"voice"`` or ``"transcription_model"``)."""


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _turn_detection(
    raw: Mapping[str, Any] | None, current: TurnDetection | None, param: str
) -> TurnDetection | None:
    if raw is None:
        return None
    kind = raw.get("type", current.type if current else "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        raise _bad(
            f"{param}.type",
            f"Invalid value: '{kind}'. Supported values are: 'server_vad' and 'semantic_vad'.",
        )
    base = dataclasses.replace(current) if current and current.type == kind else TurnDetection()
    base.type = kind
    for name in (
        "threshold",
        "prefix_padding_ms",
        "silence_duration_ms",
        "create_response",
        "interrupt_response",
        "idle_timeout_ms",
        "eagerness",
    ):
        if raw.get(name) is not None:
            setattr(base, name, raw[name])
    if not 0.0 <= base.threshold <= 1.0:
        raise _bad(f"{param}.threshold", "threshold must be between 0 and 1.")
    if base.silence_duration_ms < 0 or base.prefix_padding_ms < 0:
        raise _bad(param, "prefix_padding_ms and silence_duration_ms must not be negative.")
    if base.idle_timeout_ms is not None:
        raise InvalidRequest(
            "idle_timeout_ms is not supported by this server; leave it null.",
            param=f"{param}.idle_timeout_ms",
            code="unsupported_value",
        )
    if base.eagerness not in SEMANTIC_SILENCE_MS:
        raise _bad(f"{param}.eagerness", f"Invalid value: '{base.eagerness}'.")
    return base


def _max_tokens(value: Any, param: str) -> int | str:
    if value == "inf" or (isinstance(value, int) and 1 <= value <= 4096):
        return value
    raise _bad(
        param, f"Invalid value: {value!r}. Expected an integer between 1 and 4096, or 'inf'."
    )


def _tools(tools: list[dict[str, Any]], param: str) -> list[dict[str, Any]]:
    if len(tools) > MAX_TOOLS:  # as Chat Completions: checked before any schema is compiled
        raise array_above_max_length(param, MAX_TOOLS, len(tools))
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type", "function") != "function":
            raise _bad(
                f"{param}[{i}].type",
                f"Tool type '{tool.get('type')}' is not "
                "supported by this server; only 'function' tools are.",
            )
        if not tool.get("name"):
            raise InvalidRequest(
                "Missing required parameter: 'name'.",
                param=f"{param}[{i}].name",
                code="missing_required_parameter",
            )
        out.append(
            {
                "type": "function",
                "name": tool["name"],
                "description": tool.get("description") or "",
                "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    return out


def _tool_choice(value: Any, tools: list[dict[str, Any]], param: str) -> str | dict[str, Any]:
    if isinstance(value, dict):
        name = value.get("name")
        if name not in {t["name"] for t in tools}:
            raise _bad(
                f"{param}.name", f"tool_choice names function '{name}', which is not in tools."
            )
        return {"type": "function", "name": name}
    if value not in ("auto", "none", "required"):
        raise _bad(
            param, f"Invalid value: '{value}'. Supported values are: 'auto', 'none' and 'required'."
        )
    return value


def _ga_format(raw: Mapping[str, Any] | None, param: str) -> AudioFormat:
    kind = (raw or {}).get("type", "audio/pcm")
    if kind not in _FROM_GA:
        raise _bad(
            f"{param}.type",
            f"Invalid value: '{kind}'. Supported values are: "
            "'audio/pcm', 'audio/pcmu' and 'audio/pcma'.",
        )
    if kind == "audio/pcm" and (raw or {}).get("rate", 24000) != 24000:
        raise _bad(f"{param}.rate", "Only 24000 Hz PCM is supported.")
    return _FROM_GA[kind]


def _beta_format(value: Any, param: str) -> AudioFormat:
    if value not in GA_FORMATS:
        raise _bad(
            param,
            f"Invalid value: '{value}'. Supported values are: 'pcm16', "
            "'g711_ulaw' and 'g711_alaw'.",
        )
    return str(value)


def _modalities(value: list[str], param: str, beta: bool) -> list[str]:
    kinds = set(value)
    if not kinds or not kinds <= {"text", "audio"} or (not beta and len(kinds) > 1):
        raise _bad(
            param,
            "Supported values are ['audio'] and ['text']"
            + (", or ['text', 'audio']." if beta else "."),
        )
    return ["audio"] if "audio" in kinds else ["text"]


def apply_ga(
    config: SessionConfig, session: Mapping[str, Any], check: Check, param: str = "session"
) -> SessionConfig:
    """A copy of ``config`` with a GA ``session`` object (``session.update``, client
    secrets) applied; raises ``InvalidRequest`` naming the bad field."""
    new = config.copy()
    if session.get("type", "realtime") != "realtime":
        raise _bad(f"{param}.type", "Only 'realtime' sessions are supported by this server.")
    if "instructions" in session and session["instructions"] is not None:
        new.instructions = session["instructions"]
    if session.get("output_modalities") is not None:
        new.output_modalities = _modalities(
            session["output_modalities"], f"{param}.output_modalities", beta=False
        )
    audio = session.get("audio") or {}
    inp, out = audio.get("input") or {}, audio.get("output") or {}
    if "format" in inp:
        new.input_format = _ga_format(inp["format"], f"{param}.audio.input.format")
    if "format" in out:
        new.output_format = _ga_format(out["format"], f"{param}.audio.output.format")
    if out.get("voice") is not None:
        new.voice = _voice(out["voice"], check, f"{param}.audio.output.voice")
    if out.get("speed") is not None:
        new.speed = _speed(out["speed"], f"{param}.audio.output.speed")
    if "transcription" in inp:
        new.transcription = _transcription(
            inp["transcription"], check, f"{param}.audio.input.transcription"
        )
    if "noise_reduction" in inp:
        new.noise_reduction = inp["noise_reduction"]
    if "turn_detection" in inp:
        new.turn_detection = _turn_detection(
            inp["turn_detection"], new.turn_detection, f"{param}.audio.input.turn_detection"
        )
    _common(new, session, param, "max_output_tokens")
    return new


def apply_beta(
    config: SessionConfig, session: Mapping[str, Any], check: Check, param: str = "session"
) -> SessionConfig:
    """As ``apply_ga`` for a beta (flat) session object."""
    new = config.copy()
    if session.get("instructions") is not None:
        new.instructions = session["instructions"]
    if session.get("modalities") is not None:
        new.output_modalities = _modalities(session["modalities"], f"{param}.modalities", beta=True)
    if session.get("input_audio_format") is not None:
        new.input_format = _beta_format(
            session["input_audio_format"], f"{param}.input_audio_format"
        )
    if session.get("output_audio_format") is not None:
        new.output_format = _beta_format(
            session["output_audio_format"], f"{param}.output_audio_format"
        )
    if session.get("voice") is not None:
        new.voice = _voice(session["voice"], check, f"{param}.voice")
    if session.get("speed") is not None:
        new.speed = _speed(session["speed"], f"{param}.speed")
    if "input_audio_transcription" in session:
        new.transcription = _transcription(
            session["input_audio_transcription"], check, f"{param}.input_audio_transcription"
        )
    if "input_audio_noise_reduction" in session:
        new.noise_reduction = session["input_audio_noise_reduction"]
    if "turn_detection" in session:
        new.turn_detection = _turn_detection(
            session["turn_detection"], new.turn_detection, f"{param}.turn_detection"
        )
    if session.get("temperature") is not None:
        new.temperature = _temperature(session["temperature"], f"{param}.temperature")
    _common(new, session, param, "max_response_output_tokens")
    return new


def _common(new: SessionConfig, session: Mapping[str, Any], param: str, max_key: str) -> None:
    if session.get("tools") is not None:
        new.tools = _tools(session["tools"], f"{param}.tools")
    if session.get("tool_choice") is not None:
        new.tool_choice = _tool_choice(session["tool_choice"], new.tools, f"{param}.tool_choice")
    if session.get(max_key) is not None:
        new.max_output_tokens = _max_tokens(session[max_key], f"{param}.{max_key}")


def _voice(value: Any, check: Check, param: str) -> str:
    name = value.get("id") if isinstance(value, dict) else value
    try:
        check("voice", name)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message, param=param, code=exc.code) from None
    return str(name)


def _speed(value: Any, param: str) -> float:
    if not isinstance(value, int | float) or not 0.25 <= value <= 1.5:
        raise _bad(param, "speed must be between 0.25 and 1.5.")
    return float(value)


def _temperature(value: Any, param: str) -> float:
    if not isinstance(value, int | float) or not 0.6 <= value <= 1.2:
        raise _bad(param, "temperature must be between 0.6 and 1.2.")
    return float(value)


def _transcription(
    raw: Mapping[str, Any] | None, check: Check, param: str
) -> dict[str, Any] | None:
    if raw is None:
        return None
    model = raw.get("model") or "whisper-1"
    try:
        check("transcription_model", model)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message, param=f"{param}.model", code=exc.code) from None
    return {"model": model, "language": raw.get("language"), "prompt": raw.get("prompt")}


def render_ga(config: SessionConfig) -> dict[str, Any]:
    """The GA ``session`` object (``session.created`` / ``session.updated``)."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": config.id,
        "model": config.model,
        "output_modalities": list(config.output_modalities),
        "instructions": config.instructions,
        "audio": {
            "input": {
                "format": GA_FORMATS[config.input_format],
                "transcription": config.transcription,
                "noise_reduction": config.noise_reduction,
                "turn_detection": config.turn_detection.wire() if config.turn_detection else None,
            },
            "output": {
                "format": GA_FORMATS[config.output_format],
                "voice": config.voice,
                "speed": config.speed,
            },
        },
        "tools": config.tools,
        "tool_choice": config.tool_choice,
        "max_output_tokens": config.max_output_tokens,
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
        "expires_at": config.expires_at,
    }


def render_beta(config: SessionConfig) -> dict[str, Any]:
    """The beta ``session`` object."""
    turn = config.turn_detection.wire() if config.turn_detection else None
    if turn is not None:
        turn.pop("idle_timeout_ms", None)
    return {
        "id": config.id,
        "object": "realtime.session",
        "model": config.model,
        "expires_at": config.expires_at,
        "modalities": ["text", "audio"] if "audio" in config.output_modalities else ["text"],
        "instructions": config.instructions,
        "voice": config.voice,
        "speed": config.speed,
        "input_audio_format": config.input_format,
        "output_audio_format": config.output_format,
        "input_audio_transcription": config.transcription,
        "input_audio_noise_reduction": config.noise_reduction,
        "turn_detection": turn,
        "tools": config.tools,
        "tool_choice": config.tool_choice if isinstance(config.tool_choice, str) else "required",
        "temperature": config.temperature,
        "max_response_output_tokens": config.max_output_tokens,
        "tracing": None,
    }


def new_config(model: str, lifetime_s: float) -> SessionConfig:
    """Defaults for a new session on ``model`` that expires ``lifetime_s`` from now."""
    return SessionConfig(model=model, expires_at=int(time.time() + lifetime_s))
