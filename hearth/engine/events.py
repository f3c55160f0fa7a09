"""What a generation stream yields to its consumer (the asyncio side)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class TopLogprob:
    """One alternative token: its text, raw bytes and log probability (natural log)."""

    token: str
    bytes: tuple[int, ...]
    logprob: float


@dataclass(frozen=True)
class LogprobEntry:
    """Log probability of one generated token plus its ``top_logprobs`` alternatives."""

    token: str
    bytes: tuple[int, ...]
    logprob: float
    top_logprobs: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class TokenDelta:
    """New text for choice ``choice`` and the logprobs of the tokens it completes."""

    choice: int
    text: str
    logprobs: tuple[LogprobEntry, ...] = field(default=())


@dataclass(frozen=True)
class PromptLogprobs:
    """Log probabilities of the prompt's own tokens, sent once before any ``TokenDelta``
    when the request asked for them (``GenerationRequest.prompt_logprobs``).

    ``entries[i]`` is prompt token ``i + 1`` given tokens ``0..i`` (the first token has
    no logprob: nothing precedes it), with up to ``prompt_logprobs`` alternatives."""

    entries: tuple[LogprobEntry, ...]


@dataclass(frozen=True)
class ChoiceFinished:
    """Choice ``choice`` ended: ``finish_reason`` is ``stop`` or ``length``."""

    choice: int
    finish_reason: FinishReason


@dataclass(frozen=True)
class Completed:
    """Every choice ended; exact token counts from the model's tokenizer.

    ``cached_tokens``: leading prompt tokens reused from the prompt cache (a multiple of
    128, any size; the API reports it per OpenAI's 1,024-token rule).
    """

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0


@dataclass(frozen=True)
class Failed:
    """Generation failed; ``error`` is raised to the consumer."""

    error: BaseException


Event = PromptLogprobs | TokenDelta | ChoiceFinished | Completed | Failed
