"""Per-request and per-sequence state the scheduler advances (scheduler thread only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hearth.engine.constraints import Constraint, Grammar
from hearth.engine.events import Event, LogprobEntry
from hearth.engine.sampling import Sampler, SamplingParams
from hearth.engine.speculation import NgramDrafter
from hearth.engine.text import TextAssembler


@dataclass(frozen=True)
class GenerationRequest:
    """A tokenized prompt to complete ``n`` times.

    ``max_tokens``: completion tokens per choice (already bounded by the context);
    ``stop``: up to 4 strings that end a choice and are never emitted;
    ``grammar``: every choice's tokens are masked to this grammar (structured outputs);
    ``cache_scope``: the prompt-cache tree to use (the organization), None for none;
    ``prompt_logprobs``: when set (0-20 alternatives), a ``PromptLogprobs`` event gives
    every prompt token's logprob (the prompt is then computed whole, not read from the
    cache). ``max_tokens`` may be 0 only with it: the prompt is scored, nothing sampled.
    """

    prompt: list[int]
    params: SamplingParams
    max_tokens: int
    n: int = 1
    stop: tuple[str, ...] = ()
    grammar: Grammar | None = None
    cache_scope: str | None = None
    prompt_logprobs: int | None = None


@dataclass
class Seq:
    """One choice: its llama.cpp sequence id, sampler, text state, grammar position
    and next input."""

    seq_id: int
    choice: int
    sampler: Sampler
    text: TextAssembler
    constraint: Constraint | None = None
    pos: int = 0
    next_token: int | None = None
    generated: int = 0
    fed: list[int] = field(default_factory=list)  # generated tokens now in its KV cells
    drafter: NgramDrafter | None = None  # built on its first chance to draft
    draft: list[int] = field(default_factory=list)  # fed after next_token, being verified
    draft_misses: int = 0  # drafts in a row of which nothing was kept
    draft_pause: int = 0  # steps to go before drafting again
    held_logprobs: list[LogprobEntry] = field(default_factory=list)
    finished: bool = False


@dataclass
class Job:
    """A request in the scheduler: its sequences, prefill progress and KV budget.

    KV accounting: ``reserved``/``used`` count the job's own cells; cacheable prompt
    blocks are counted by the prefix cache once shared, and as ``pending_blocks`` until
    computed. ``cached_tokens``: prompt tokens reused from the cache.
    """

    request: GenerationRequest
    emit: Callable[[Event], None]
    seqs: list[Seq] = field(default_factory=list)
    prefilled: int = 0
    reserved: int = 0
    used: int = 0
    completion_tokens: int = 0
    cancelled: bool = False
    cache_keys: list[tuple[int, ...]] = field(default_factory=list)
    pending_blocks: int = 0
    cached_tokens: int = 0
    prompt_entries: list[LogprobEntry] = field(default_factory=list)
    ready_logits: np.ndarray | None = None  # the whole prompt came from the cache

    @property
    def prefilling(self) -> bool:
        return self.prefilled < len(self.request.prompt)

    @property
    def live(self) -> list[Seq]:
        return [s for s in self.seqs if not s.finished]


class GenerationHandle:
    """The asyncio side of one request: iterate events; ``cancel()`` frees its KV at once.

    Built by ``Scheduler.submit``; events are put on an asyncio queue from the engine
    thread with ``call_soon_threadsafe`` so the event loop never blocks.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = wake
        self.job: Job | None = None

    def emit(self, event: Event) -> None:
        """Engine thread: hand an event to the event loop (drop it if the loop is gone)."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:  # loop closed: nobody is listening any more
            self.cancel()

    async def next(self) -> Event:
        """The next event (waits without blocking the loop)."""
        return await self._queue.get()

    def cancel(self) -> None:
        """Stop generating and free the request's KV cells (idempotent, thread-safe)."""
        if self.job is not None and not self.job.cancelled:
            self.job.cancelled = True
            self._wake()
