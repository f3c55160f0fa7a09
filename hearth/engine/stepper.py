"""Turns logits into tokens, text and events for each sequence (engine thread).

Separated from the scheduler so batching policy and per-token semantics (sampling,
end of generation, stop sequences, ``max_tokens``, logprobs, grammar masks) stay small
and testable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from hearth.engine.constraints import ConstraintFailed, MaskWorker, PendingMasks
from hearth.engine.events import (
    ChoiceFinished,
    Failed,
    FinishReason,
    LogprobEntry,
    PromptLogprobs,
    TokenDelta,
    TopLogprob,
)
from hearth.engine.prefix_cache import PrefixCache
from hearth.engine.runner import Logits, ModelRunner
from hearth.engine.sampling import SampledToken, Sampler, score
from hearth.engine.sequence import Job, Seq
from hearth.engine.text import TextAssembler
from hearth.errors import InternalError

log = logging.getLogger(__name__)

Masks = Mapping[int, npt.NDArray[np.bool_]]


class BatchMasks:
    """Masks for the sequences sampled after the current forward pass."""

    def __init__(self, seq_ids: list[int], pending: PendingMasks) -> None:
        self._seq_ids = seq_ids
        self._pending = pending

    def result(self) -> Masks:
        """Seq id -> bool mask over the vocabulary (waits for them if overlapped)."""
        return dict(zip(self._seq_ids, self._pending.result(), strict=True))

    def wait(self) -> None:
        """Wait for the helper to finish with the matchers, ignoring its result."""
        self._pending.wait()


MAX_DRAFT_PAUSE = 16
"""Most decode steps a sequence waits before drafting again after drafts in a row of
which nothing was kept (1, 2, 4, ... steps)."""


class Stepper:
    """Per-token semantics over a ``ModelRunner``'s vocabulary."""

    def __init__(
        self, runner: ModelRunner, *, overlap_masks: bool = False, cache: PrefixCache | None = None
    ) -> None:
        self._runner = runner
        self._cache = cache
        self._overlap = overlap_masks
        self._masks: MaskWorker | None = None
        self.drafted = 0  # drafted tokens verified so far (engine/speculation.py)
        self.accepted = 0  # ... of which the sampler kept

    def open(self, job: Job, seq_ids: Sequence[int]) -> None:
        """Create the job's sequences on the given ids (choice i on ``seq_ids[i]``)."""
        req = job.request
        job.seqs = [
            Seq(
                seq_id=sid,
                choice=i,
                text=TextAssembler(req.stop),
                sampler=Sampler(req.params, self._runner.info.n_vocab, stream=i),
                constraint=req.grammar.constraint() if req.grammar else None,
            )
            for i, sid in enumerate(seq_ids)
        ]
        job.used = len(req.prompt)

    def start_masks(self, owners: Sequence[tuple[Job, int | None]]) -> BatchMasks | None:
        """Start computing the grammar masks the next ``dispatch`` needs (overlapping the
        forward pass when ``overlap_masks``); None when no owner is constrained."""
        seqs = [
            seq
            for job, choice in owners
            if not job.cancelled
            for seq in (job.seqs if choice is None else [job.seqs[choice]])
            if seq.constraint is not None
        ]
        if not seqs:
            return None
        if self._masks is None:
            self._masks = MaskWorker(self._runner.info.n_vocab, overlap=self._overlap)
        pending = self._masks.start([s.constraint for s in seqs if s.constraint])
        return BatchMasks([s.seq_id for s in seqs], pending)

    def dispatch(
        self,
        owners: Sequence[tuple[Job, int | None]],
        logits: Sequence[np.ndarray],
        grow: Callable[[Job], bool],
        masks: Masks | None = None,
    ) -> None:
        """Sample one token for each owner. ``choice`` None means the prompt just
        finished prefilling: its logits seed every choice (KV shared by seq-copy).
        A 2-D ``logits`` entry holds a drafting sequence's rows, one per position fed
        (``verify``). ``masks``: allowed tokens per constrained sequence id (from
        ``start_masks``)."""
        for (job, choice), row in zip(owners, logits, strict=True):
            if job.cancelled:
                continue
            if row.ndim == 2:
                assert choice is not None
                self.verify(job, job.seqs[choice], row, grow)
                continue
            if choice is None:
                if job.request.prompt_logprobs is not None:
                    job.emit(PromptLogprobs(tuple(job.prompt_entries)))
                    job.prompt_entries = []
                if job.request.max_tokens == 0:  # scoring only: nothing is sampled
                    for seq in job.seqs:
                        self._finish(job, seq, "length")
                    continue
                self._fork(job)
            for seq in job.seqs if choice is None else [job.seqs[choice]]:
                try:
                    self._advance(job, seq, row, grow, (masks or {}).get(seq.seq_id))
                except ConstraintFailed as exc:
                    # the grammar library's own words stay in the log, not in the answer
                    log.warning("constrained decoding failed mid-generation: %s", exc)
                    job.emit(
                        Failed(
                            InternalError(
                                "Constrained decoding stopped: the schema's grammar hit a "
                                "resource limit during generation. Simplify the schema."
                            )
                        )
                    )
                    job.cancelled = True
                    break

    def verify(self, job: Job, seq: Seq, rows: np.ndarray, grow: Callable[[Job], bool]) -> None:
        """Sample from ``rows[0]`` (after the fed token), then from each next row while
        the token drawn equals the drafted token fed at that position: the tokens are
        those plain decoding would draw from the same logits. Cells holding rejected
        drafted tokens are dropped."""
        draft = seq.draft
        self.drafted += len(draft)
        kept = 0
        for k, row in enumerate(rows):
            self._advance(job, seq, row, grow, None)
            if seq.finished:
                break  # _finish dropped the unverified cells
            if k < len(draft) and seq.next_token == draft[k]:
                seq.fed.append(draft[k])  # already in its cells, at seq.pos
                seq.pos += 1
                kept += 1
                continue
            break
        self.accepted += kept
        self._drop_draft(seq)
        # text that does not repeat itself: a missed draft costs a step, so back off
        seq.draft_misses = 0 if kept else seq.draft_misses + 1
        seq.draft_pause = min(2**seq.draft_misses, MAX_DRAFT_PAUSE) if seq.draft_misses else 0

    def _drop_draft(self, seq: Seq) -> None:
        """Forget a verified draft; its cells from ``seq.pos`` on hold rejected tokens."""
        if seq.draft:
            seq.draft = []
            self._runner.trim_sequence(seq.seq_id, seq.pos)

    def score_prompt(self, job: Job, pos: int, rows: Logits) -> None:
        """Keep the logprobs of the prompt tokens after positions ``pos, pos+1, ...``
        (``rows[k]``: the logits after position ``pos + k``); the last prompt position's
        row predicts the completion, not a prompt token, and is skipped."""
        prompt, top = job.request.prompt, job.request.prompt_logprobs or 0
        for k, row in enumerate(rows):
            nxt = pos + k + 1
            if nxt < len(prompt):
                job.prompt_entries.append(self._logprob_entry(score(row, prompt[nxt], top)))

    def release(self, seq_id: int, scope: str | None = None, tokens: Sequence[int] = ()) -> None:
        """Free a sequence's cells (through the prefix cache, which may keep blocks and,
        given the ``tokens`` its cells hold, its generated tokens for a next turn)."""
        if self._cache is not None:
            self._cache.release(seq_id, scope, tokens)
        else:
            self._runner.free_sequence(seq_id)

    def close(self) -> None:
        """Stop the mask helper thread."""
        if self._masks is not None:
            self._masks.close()

    def _fork(self, job: Job) -> None:
        first = job.seqs[0]
        for seq in job.seqs:
            if seq is not first:
                self._runner.copy_sequence(first.seq_id, seq.seq_id)
                if self._cache is not None:
                    self._cache.fork(first.seq_id, seq.seq_id)
            seq.pos = len(job.request.prompt)

    def _advance(
        self,
        job: Job,
        seq: Seq,
        logits: np.ndarray,
        grow: Callable[[Job], bool],
        allowed: npt.NDArray[np.bool_] | None,
    ) -> None:
        if seq.constraint is not None:
            seq.constraint.check()  # an errored matcher would only allow end tokens
            if allowed is None or not allowed.any():
                raise ConstraintFailed("no token allowed")
        sampled = seq.sampler.sample(logits, allowed)
        seq.sampler.accept(sampled.token)
        seq.generated += 1
        job.completion_tokens += 1
        if self._runner.is_end_of_generation(sampled.token):
            return self._finish(job, seq, "stop")
        if seq.constraint is not None:
            seq.constraint.consume(sampled.token)
        if sampled.logprob is not None:
            seq.held_logprobs.append(self._logprob_entry(sampled))
        step = seq.text.feed(self._runner.token_bytes(sampled.token))
        self._emit_text(job, seq, step.text, step.released_tokens)
        if step.stopped:
            return self._finish(job, seq, "stop", flush=False)
        if seq.constraint is not None and seq.constraint.stopped:
            return self._finish(job, seq, "stop")  # the grammar is complete
        if seq.generated >= job.request.max_tokens or not grow(job):
            return self._finish(job, seq, "length")
        seq.next_token = sampled.token

    def _emit_text(self, job: Job, seq: Seq, text: str, released: int) -> None:
        entries = tuple(seq.held_logprobs[:released])
        del seq.held_logprobs[:released]
        if text or entries:
            job.emit(TokenDelta(seq.choice, text, entries))

    def _finish(self, job: Job, seq: Seq, reason: FinishReason, *, flush: bool = True) -> None:
        if flush:
            step = seq.text.flush()
            self._emit_text(job, seq, step.text, len(seq.held_logprobs))
        seq.finished = True
        self._drop_draft(seq)
        prompt = job.request.prompt
        self.release(seq.seq_id, job.request.cache_scope, [*prompt, *seq.fed])
        job.emit(ChoiceFinished(seq.choice, reason))

    def _token_info(self, token: int) -> tuple[str, tuple[int, ...]]:
        raw = self._runner.token_bytes(token)
        return raw.decode("utf-8", "replace"), tuple(raw)

    def _logprob_entry(self, sampled: SampledToken) -> LogprobEntry:
        text, raw = self._token_info(sampled.token)
        top = tuple(TopLogprob(*self._token_info(t.token), t.logprob) for t in sampled.top_logprobs)
        assert sampled.logprob is not None
        return LogprobEntry(text, raw, sampled.logprob, top)
