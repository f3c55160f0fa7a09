"""Continuous batching on a dedicated engine thread.

Every step gathers one token from each decoding sequence plus chunks of waiting prompts
(chunked prefill, within ``batch_tokens``) into a single ``llama_decode``; new requests
join between steps and finished or cancelled ones leave, freeing their KV cells at once.
The asyncio side talks to it only through ``submit`` and ``GenerationHandle``.

Admission is bounded: at most ``max_sequences + max_waiting`` requests are in the engine
at once (decoding or waiting for a sequence and KV cells); past that ``submit`` refuses at
once with OpenAI's overloaded-engine 503, so a burst of long requests (no ``max_tokens``:
each may hold its sequence for a whole context) queues a bounded number and the rest are
told to retry instead of waiting without bound.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from hearth.engine.events import Completed, Failed
from hearth.engine.prefix_cache import BLOCK, NO_MATCH, CacheStats, Match, PrefixCache, block_keys
from hearth.engine.runner import BatchItem, KVCacheFull, Logits, ModelRunner
from hearth.engine.sequence import GenerationHandle, GenerationRequest, Job, Seq
from hearth.engine.speculation import NgramDrafter, SpeculativeConfig
from hearth.engine.stepper import Stepper
from hearth.errors import InvalidRequest, ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineStats:
    """A snapshot taken on the engine thread after each step.

    ``kv_positions``: positions llama.cpp itself reports held, per busy sequence id.
    ``step_seconds``: mean wall time of recent decode steps (model forward + sampling).
    ``prompt_cache``: the prefix cache's counters, None when caching is off.
    ``draft_tokens`` / ``accepted_draft_tokens``: tokens proposed by prompt lookup
    decoding and those the sampler kept (``engine/speculation.py``).
    """

    active_requests: int
    waiting_requests: int
    active_sequences: int
    kv_positions: dict[int, int]
    steps: int
    decoded_tokens: int
    step_seconds: float
    prompt_cache: CacheStats | None = None
    draft_tokens: int = 0
    accepted_draft_tokens: int = 0


class Scheduler:
    """Owns a ``ModelRunner`` and runs it on one thread (see module doc)."""

    def __init__(
        self,
        runner: ModelRunner,
        batch_tokens: int,
        max_waiting: int = 64,
        *,
        overlap_masks: bool = False,
        cache: PrefixCache | None = None,
        speculative: SpeculativeConfig | None = None,
    ):
        self._runner = runner
        self._cache = cache
        self._speculative = speculative if speculative and speculative.enabled else None
        self._stepper = Stepper(runner, overlap_masks=overlap_masks, cache=cache)
        self._batch_tokens = batch_tokens
        self._capacity = runner.max_sequences + max_waiting
        self._in_flight = 0  # submitted and not yet finished: raised on the loop, lowered here
        self._count = threading.Lock()
        self._inbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._waiting: deque[Job] = deque()
        self._active: list[Job] = []
        self._free_ids = list(range(runner.max_sequences))
        self._share = max(runner.kv_cells // runner.max_sequences, 256)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="hearth-engine", daemon=True)
        self._recent: deque[float] = deque(maxlen=64)
        self._steps = self._decoded = 0
        self.stats = self._snapshot()

    def start(self) -> None:
        """Start the engine thread."""
        self._thread.start()

    def stop(self) -> bool:
        """Finish the thread: pending requests fail with 503. Whether it has ended (it
        is given 30 s to finish its step)."""
        self._stopping = True
        self._inbox.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        return not self._thread.is_alive()

    def submit(self, request: GenerationRequest) -> GenerationHandle:
        """Queue a request from the event loop; returns its handle immediately.

        Raises ``InvalidRequest`` if it could never fit the KV cache, ``ServiceUnavailable``
        (503) when stopping or when ``max_sequences + max_waiting`` requests are already in
        the engine (the message OpenAI sends for an overloaded engine).
        """
        if self._stopping:
            raise ServiceUnavailable("The engine is shutting down.")
        if request.n > self._runner.max_sequences:
            raise InvalidRequest(f"n must be at most {self._runner.max_sequences} here.", param="n")
        handle = GenerationHandle(asyncio.get_running_loop(), self._wake)
        job = Job(request=request, emit=handle.emit, reserved=self._reservation(request))
        if job.reserved > self._runner.kv_cells:
            raise InvalidRequest(
                "The request needs more KV cache than this server has; lower n or max_tokens.",
                param="n",
            )
        with self._count:
            if self._in_flight >= self._capacity:
                raise ServiceUnavailable(
                    "The engine is currently overloaded, please try again later."
                )
            self._in_flight += 1
        handle.job = job
        self._inbox.put(job)
        return handle

    def _left(self, jobs: int = 1) -> None:
        """``jobs`` submitted jobs have left the engine (finished, failed or cancelled)."""
        with self._count:
            self._in_flight -= jobs

    def _wake(self) -> None:
        self._inbox.put(None)

    def _reservation(self, request: GenerationRequest, prompt_cells: int | None = None) -> int:
        """KV cells to reserve: the prompt's (all, or ``prompt_cells`` when cached blocks
        are counted elsewhere) plus each choice's share of completion."""
        prompt = len(request.prompt) if prompt_cells is None else prompt_cells
        return prompt + request.n * min(request.max_tokens, self._share)

    # engine thread ---------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping:
            self._drain_inbox(block=not self._active)
            self._reap()
            if self._cache:
                self._cache.sweep()
            self._admit()
            if self._active:
                self._step()
            self.stats = self._snapshot()
        self._fail_all(ServiceUnavailable("The engine stopped."))

    def _drain_inbox(self, *, block: bool) -> None:
        try:
            item = self._inbox.get(timeout=0.5) if block else self._inbox.get_nowait()
            while True:
                if item is not None:
                    self._waiting.append(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            return

    def _reap(self) -> None:
        for job in [j for j in self._active if j.cancelled]:
            self._retire(job)
        waiting = len(self._waiting)
        self._waiting = deque(j for j in self._waiting if not j.cancelled)
        self._left(waiting - len(self._waiting))

    def _free_cells(self) -> int:
        own = sum(max(j.reserved, j.used) + j.pending_blocks * BLOCK for j in self._active)
        shared = self._cache.resident_cells if self._cache else 0
        return self._runner.kv_cells - own - shared

    def _admit(self) -> None:
        """FIFO by resources; a job whose prefix another job is still computing steps
        aside (so concurrent shared prefixes are computed once) and keeps its place."""
        deferred: list[Job] = []
        while self._waiting:
            job = self._waiting[0]
            match = self._lookup(job)
            if match is None:
                deferred.append(self._waiting.popleft())
                continue
            req = job.request
            own_prompt = len(req.prompt) - len(job.cache_keys) * BLOCK
            reserved = self._reservation(req, own_prompt)
            pending = len(job.cache_keys) - len(match.nodes)
            restored = sum(1 for node in match.nodes if not node.holders)
            restored += match.partial is not None and not match.partial.holders
            need = reserved + (pending + restored) * BLOCK
            if req.n > len(self._free_ids) or need > self._free_cells():
                break  # later requests wait behind the head
            self._waiting.popleft()
            ids, self._free_ids = self._free_ids[: req.n], self._free_ids[req.n :]
            self._stepper.open(job, ids)
            job.reserved, job.used, job.pending_blocks = reserved, own_prompt, pending
            self._active.append(job)
            if self._cache and req.cache_scope is not None:
                self._attach(job, match)
        self._waiting.extendleft(reversed(deferred))

    def _lookup(self, job: Job) -> Match | None:
        """The job's cached prefix, or None while an active job of the same scope is
        still prefilling blocks beyond it."""
        scope = job.request.cache_scope
        if self._cache is None or scope is None or job.request.prompt_logprobs is not None:
            return NO_MATCH  # a scored prompt needs every position's logits: computed whole
        if not job.cache_keys:
            job.cache_keys = block_keys(job.request.prompt)
        match = self._cache.match(scope, job.cache_keys, job.request.prompt)
        for other in self._active:
            if other.request.cache_scope != scope or not other.prefilling:
                continue
            common = 0
            for mine, theirs in zip(job.cache_keys, other.cache_keys, strict=False):
                if mine != theirs:
                    break
                common += 1
            if common > len(match.nodes) and other.prefilled < common * BLOCK:
                return None
        return match

    def _attach(self, job: Job, match: Match) -> None:
        assert self._cache is not None
        try:
            hit = self._cache.attach(match, job.seqs[0].seq_id, len(job.request.prompt))
        except KVCacheFull:
            self._fail(job, ServiceUnavailable("KV cache exhausted; retry."))
            return
        job.prefilled = hit
        job.cached_tokens = hit - hit % BLOCK  # reported in whole blocks, as OpenAI does
        if match.logits is not None:  # nothing left to compute: sampled from kept logits
            job.ready_logits = match.logits
            self._own_pending(job)

    def _step(self) -> None:
        items, owners = self._plan()
        start = time.perf_counter()
        pending = self._stepper.start_masks(owners)  # may overlap the forward pass
        try:
            logits: Logits = self._runner.decode(items) if items else []
            masks = pending.result() if pending else None
        except Exception as exc:  # the batch's jobs are now out of step: fail them, not all
            if pending:
                pending.wait()
            log.exception("decode failed")
            error = (
                ServiceUnavailable("KV cache exhausted; retry.")
                if isinstance(exc, KVCacheFull)
                else exc
            )
            for job in self._jobs_in(items):
                self._fail(job, error)
            return
        self._register_blocks(items)
        rows = self._rows(items, logits, owners)
        self._stepper.dispatch(owners, rows, self._grow, masks)
        self._recent.append(time.perf_counter() - start)
        self._steps += 1
        self._decoded += sum(len(i.tokens) for i in items)
        done = [j for j in self._active if not j.live]
        for job in done:
            self._retire(job)  # first: a client told it is done finds its place free
        if done:  # ... and stats that count it
            self.stats = self._snapshot()
        for job in done:
            job.emit(Completed(len(job.request.prompt), job.completion_tokens, job.cached_tokens))

    def _register_blocks(self, items: list[BatchItem]) -> None:
        """Publish the prompt blocks this step completed, so waiting requests can share
        them; at the end of prefill, blocks that stayed private count as own cells."""
        if self._cache is None:
            return
        for job in self._jobs_in(items):
            scope = job.request.cache_scope
            if not job.cache_keys or scope is None or not job.seqs:
                continue
            added = self._cache.register(scope, job.seqs[0].seq_id, job.cache_keys, job.prefilled)
            job.pending_blocks -= added
            if not job.prefilling:
                self._own_pending(job)

    @staticmethod
    def _own_pending(job: Job) -> None:
        """Prefill is over: blocks the job computed but could not share (or restored
        only in part) are its own cells from now on."""
        job.used += job.pending_blocks * BLOCK
        job.pending_blocks = 0

    def _rows(
        self,
        items: list[BatchItem],
        logits: Logits,
        owners: list[tuple[Job, int | None]],
    ) -> list[np.ndarray]:
        """One logits row per owner, as ``dispatch`` takes them: prompt-scoring items'
        rows go to their jobs, a finished prompt's row is kept for a repeat, and a prompt
        found whole in the cache brings its kept row."""
        out: Logits = logits
        if any(item.all_logits for item in items):
            jobs = {seq.seq_id: job for job in self._active for seq in job.seqs[:1]}
            drafting = {seq.seq_id for job in self._active for seq in job.seqs if seq.draft}
            out, row = [], 0
            for item in items:
                if item.all_logits:
                    rows = logits[row : row + len(item.tokens)]
                    row += len(rows)
                    if item.seq_id in drafting:  # a token and its draft: verified together
                        out.append(np.asarray(rows))  # a view of the step's array
                        continue
                    self._stepper.score_prompt(jobs[item.seq_id], item.pos, rows)
                    if item.logits:
                        out.append(rows[-1])
                elif item.logits:
                    out.append(logits[row])
                    row += 1
        out = list(out)
        for k, (job, choice) in enumerate(owners):
            if choice is not None:
                continue
            if job.ready_logits is not None:
                out.insert(k, job.ready_logits)
                job.ready_logits = None
            elif self._cache and job.request.cache_scope is not None:
                self._cache.keep_logits(job.request.cache_scope, job.request.prompt, out[k])
        return out

    def _jobs_in(self, items: list[BatchItem]) -> list[Job]:
        ids = {item.seq_id for item in items}
        return [j for j in self._active if any(s.seq_id in ids for s in j.seqs)]

    def _plan(self) -> tuple[list[BatchItem], list[tuple[Job, int | None]]]:
        """Decode tokens first (one per live sequence, plus its draft when few
        sequences decode), then prompt chunks in FIFO order."""
        items: list[BatchItem] = []
        owners: list[tuple[Job, int | None]] = []
        budget = self._batch_tokens
        decoding = [j for j in self._active if j.ready_logits is None and not j.prefilling]
        spec = self._speculative
        if spec and sum(len(j.live) for j in decoding) > spec.max_sequences:
            spec = None
        spare = self._free_cells() if spec else 0  # cells a draft may hold for this step
        for job in decoding:
            own = max(job.reserved - job.used, 0)
            for seq in job.live:
                assert seq.next_token is not None
                draft = self._draft(job, seq, spec, min(own + spare, budget - 1)) if spec else []
                taken = min(len(draft), own)
                own, spare = own - taken, spare - (len(draft) - taken)
                seq.draft = draft
                tokens = [seq.next_token, *draft]
                items.append(BatchItem(seq.seq_id, tokens, seq.pos, True, bool(draft)))
                seq.fed.append(seq.next_token)
                owners.append((job, seq.choice))
                seq.pos += 1
                budget -= len(tokens)
        for job in self._active:
            if job.prefilling and budget > 0:
                start, n_prompt = job.prefilled, len(job.request.prompt)
                end = min(n_prompt, start + budget)
                if self._cache and self._cache.config.exact and job.request.cache_scope:
                    # one block per step: llama.cpp's attention rounds differently with
                    # the tokens batched beside a query, so a hit's suffix must be
                    # computed in the same splits as a cold prompt for equal output
                    end = min(end, (start // BLOCK + 1) * BLOCK)
                chunk = job.request.prompt[start:end]
                last = end == n_prompt
                scoring = job.request.prompt_logprobs is not None
                items.append(BatchItem(job.seqs[0].seq_id, chunk, job.prefilled, last, scoring))
                job.prefilled += len(chunk)
                budget -= len(chunk)
                if last:
                    owners.append((job, None))
        owners += [(job, None) for job in self._active if job.ready_logits is not None]
        return items, owners

    @staticmethod
    def _draft(job: Job, seq: Seq, spec: SpeculativeConfig, room: int) -> list[int]:
        """Tokens to feed after ``seq.next_token`` for verification (prompt lookup over
        its prompt and generated tokens), at most ``room``; none for a constrained
        sequence (its mask at each drafted position would need the grammar advanced)."""
        limit = min(spec.draft_tokens, room, job.request.max_tokens - seq.generated - 1)
        if limit < 1 or seq.constraint is not None or seq.next_token is None:
            return []
        if seq.draft_pause:
            seq.draft_pause -= 1
            return []
        prompt = job.request.prompt
        if seq.drafter is None:
            seq.drafter = NgramDrafter(spec.ngram)
            seq.drafter.extend(prompt)
        seq.drafter.extend(seq.fed[len(seq.drafter) - len(prompt) :])
        return seq.drafter.propose(seq.next_token, limit)

    def _grow(self, job: Job) -> bool:
        """Take one more KV cell for ``job`` beyond its reservation, if any is free."""
        if job.used < job.reserved or self._free_cells() > 0:
            job.used += 1
            return True
        return False

    def _fail(self, job: Job, error: BaseException) -> None:
        self._retire(job)
        job.emit(Failed(error))

    def _fail_all(self, error: BaseException) -> None:
        self._drain_inbox(block=False)  # submitted just before the stop: fail those too
        for job in list(self._active):
            self._fail(job, error)
        self._left(len(self._waiting))
        for job in self._waiting:
            job.emit(Failed(error))
        self._waiting.clear()
        self._stepper.close()

    def _retire(self, job: Job) -> None:
        for seq in job.seqs:
            self._stepper.release(seq.seq_id)
            self._free_ids.append(seq.seq_id)
        job.seqs = []
        self._active.remove(job)
        self._left()

    def _snapshot(self) -> EngineStats:
        busy = [s.seq_id for j in self._active for s in j.seqs]
        recent = list(self._recent)
        return EngineStats(
            active_requests=len(self._active),
            waiting_requests=len(self._waiting),
            active_sequences=len(busy),
            kv_positions={
                i: n
                for i in range(self._runner.max_sequences)
                if (n := self._runner.sequence_length(i)) > 0
            },
            steps=self._steps,
            decoded_tokens=self._decoded,
            step_seconds=sum(recent) / len(recent) if recent else 0.0,
            prompt_cache=self._cache.stats() if self._cache else None,
            draft_tokens=self._stepper.drafted,
            accepted_draft_tokens=self._stepper.accepted,
        )
