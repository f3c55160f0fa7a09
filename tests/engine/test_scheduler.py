"""The continuous-batching scheduler over a deterministic fake runner (unit level)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest
from llguidance import LLTokenizer, TokenizerWrapper

from hearth.engine.constraints import GrammarCompiler
from hearth.engine.events import ChoiceFinished, Completed, Failed, PromptLogprobs, TokenDelta
from hearth.engine.prefix_cache import BLOCK, CacheConfig, PrefixCache
from hearth.engine.runner import BatchItem, ModelInfo
from hearth.engine.sampling import SamplingParams
from hearth.engine.scheduler import Scheduler
from hearth.engine.sequence import GenerationHandle, GenerationRequest
from hearth.errors import ServiceUnavailable

pytestmark = pytest.mark.anyio
EOG = 9


class FakeRunner:
    """Greedy next token = last token + 1 (letters 'a'..), EOG after token 8."""

    def __init__(self, max_sequences: int = 4, kv_cells: int = 4096) -> None:
        self.info = ModelInfo(
            id="fake",
            path="",
            n_vocab=10,
            n_ctx_train=512,
            context_length=512,
            chat_template=None,
            bos_token="",
            eos_token="",
            fingerprint="fp_fake",
            description="fake",
        )
        self.max_sequences, self.context_length, self.kv_cells = max_sequences, 512, kv_cells
        self.lengths: dict[int, int] = {}
        self.batches: list[list[BatchItem]] = []
        self.copies: list[tuple[int, int]] = []
        # decode blocks once `hold_after` batches ran, until `release` is set
        self.hold_after: int | None = None
        self.release = threading.Event()
        self.closed = False

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        return [ord(c) - 97 for c in text]

    def token_bytes(self, token: int) -> bytes:
        return bytes([97 + token])

    def is_end_of_generation(self, token: int) -> bool:
        return token == EOG

    def grammar_tokenizer(self) -> LLTokenizer:
        return LLTokenizer(TokenizerWrapper(_FakeVocab()))

    def decode(self, items: Sequence[BatchItem]) -> list[np.ndarray]:
        if self.hold_after is not None and len(self.batches) >= self.hold_after:
            assert self.release.wait(10), "test never released the runner"
        self.batches.append(list(items))
        out = []
        for item in items:
            assert item.pos == self.lengths.get(item.seq_id, 0), "positions must be contiguous"
            self.lengths[item.seq_id] = item.pos + len(item.tokens)
            for k, token in enumerate(item.tokens):
                if item.all_logits or (item.logits and k == len(item.tokens) - 1):
                    logits = np.zeros(10, dtype=np.float32)
                    logits[min(token + 1, EOG)] = 10.0
                    out.append(logits)
        return out

    def copy_sequence(self, src: int, dst: int) -> None:
        self.copies.append((src, dst))
        self.lengths[dst] = self.lengths[src]

    def copy_prefix(self, src: int, dst: int, n_tokens: int) -> None:
        self.copies.append((src, dst))
        self.lengths[dst] = n_tokens

    def save_block(self, seq_id: int, start: int, end: int) -> np.ndarray:
        assert self.lengths[seq_id] >= end
        return np.array([end - start] * 10, dtype=np.uint8)

    def restore_block(self, data: np.ndarray, seq_id: int) -> None:
        self.lengths[seq_id] = self.lengths.get(seq_id, 0) + int(data[0])

    def free_sequence(self, seq_id: int) -> None:
        self.lengths.pop(seq_id, None)

    def trim_sequence(self, seq_id: int, n_tokens: int) -> None:
        self.lengths[seq_id] = n_tokens

    def sequence_length(self, seq_id: int) -> int:
        return self.lengths.get(seq_id, 0)

    def close(self) -> None:
        self.closed = True


class _FakeVocab:
    """The fake vocabulary as llguidance's TokenizerWrapper wants it."""

    eos_token_id = EOG
    bos_token_id = None
    tokens = [bytes([97 + i]) for i in range(EOG)] + [b"\xff<eos>"]

    def __call__(self, text: bytes) -> list[int]:
        return [b - 97 for b in text]


GREEDY = SamplingParams(temperature=0, seed=0)


async def collect(handle: GenerationHandle) -> tuple[dict[int, str], dict[int, str], Completed]:
    texts: dict[int, str] = {}
    reasons: dict[int, str] = {}
    while True:
        event = await handle.next()
        if isinstance(event, TokenDelta):
            texts[event.choice] = texts.get(event.choice, "") + event.text
        elif isinstance(event, ChoiceFinished):
            reasons[event.choice] = event.finish_reason
        elif isinstance(event, Completed):
            return texts, reasons, event
        elif isinstance(event, Failed):
            raise event.error


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture(params=[False, True], ids=["inline-masks", "overlapped-masks"])
def scheduler(runner: FakeRunner, request: pytest.FixtureRequest):
    sched = Scheduler(runner, batch_tokens=8, overlap_masks=request.param)
    sched.start()
    yield sched
    sched.stop()


async def test_generates_until_end_of_generation(scheduler: Scheduler) -> None:
    handle = scheduler.submit(GenerationRequest(prompt=[0, 1], params=GREEDY, max_tokens=50))
    texts, reasons, done = await collect(handle)
    assert texts == {0: "cdefghi"} and reasons == {0: "stop"}
    assert (done.prompt_tokens, done.completion_tokens) == (2, 8)  # 7 letters + EOG


async def test_max_tokens_and_stop(scheduler: Scheduler) -> None:
    length = scheduler.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=3))
    stop = scheduler.submit(
        GenerationRequest(prompt=[0], params=GREEDY, max_tokens=50, stop=("ef",))
    )
    assert (await collect(length))[:2] == ({0: "bcd"}, {0: "length"})
    assert (await collect(stop))[:2] == ({0: "bcd"}, {0: "stop"})


async def test_concurrent_requests_share_decode_steps(
    scheduler: Scheduler, runner: FakeRunner
) -> None:
    runner.hold_after = 0  # the fake is instant: hold it until all three are queued
    handles = [
        scheduler.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=6))
        for _ in range(3)
    ]
    runner.release.set()
    for handle in handles:
        assert (await collect(handle))[0] == {0: "bcdefg"}
    assert max(len({i.seq_id for i in batch}) for batch in runner.batches) == 3
    assert len(runner.batches) < 3 * 6


async def test_long_prompt_is_prefilled_in_chunks(scheduler: Scheduler, runner: FakeRunner) -> None:
    prompt = [0] * 20 + [3]
    texts, _, done = await collect(
        scheduler.submit(GenerationRequest(prompt=prompt, params=GREEDY, max_tokens=2))
    )
    assert texts == {0: "ef"} and done.prompt_tokens == 21
    prefill_sizes = [len(b[0].tokens) for b in runner.batches[:3]]
    assert prefill_sizes == [8, 8, 5]


async def test_n_choices_share_the_prompt_by_seq_copy(
    scheduler: Scheduler, runner: FakeRunner
) -> None:
    texts, _, done = await collect(
        scheduler.submit(GenerationRequest(prompt=[5], params=GREEDY, max_tokens=10, n=3))
    )
    assert texts == {0: "ghi", 1: "ghi", 2: "ghi"}
    assert len(runner.copies) == 2 and done.completion_tokens == 12
    assert runner.lengths == {}


async def test_cancel_frees_sequence(scheduler: Scheduler, runner: FakeRunner) -> None:
    never_ends = SamplingParams(temperature=0, logit_bias={EOG: -100, 0: 50})
    runner.hold_after = 2  # the fake is instant: pause it so the cancel lands mid-generation
    handle = scheduler.submit(GenerationRequest(prompt=[0], params=never_ends, max_tokens=500))
    assert isinstance(await handle.next(), TokenDelta)
    handle.cancel()
    runner.release.set()
    for _ in range(500):  # the KV is freed just after the stats change: wait for both
        if scheduler.stats.active_sequences == 0 and runner.lengths == {}:
            break
        await asyncio.sleep(0.01)
    assert scheduler.stats.active_sequences == 0 and runner.lengths == {}
    assert sum(len(b) for b in runner.batches) < 500


async def test_waits_for_kv_cells_then_runs() -> None:
    small = FakeRunner(max_sequences=4, kv_cells=512)
    sched = Scheduler(small, batch_tokens=8)
    sched.start()
    try:
        # each reserves 1 + 300 of 512 cells: the second must wait for the first
        a = sched.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=300))
        b = sched.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=300))
        assert (await collect(a))[1] == {0: "stop"}
        assert (await collect(b))[1] == {0: "stop"}
        assert max(len(batch) for batch in small.batches) == 1
    finally:
        sched.stop()


async def test_backend_failure_fails_the_batch_and_engine_carries_on(
    runner: FakeRunner, scheduler: Scheduler
) -> None:
    real_decode = runner.decode
    calls = {"n": 0}

    def flaky(items: Sequence[BatchItem]) -> list[np.ndarray]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("backend hiccup")
        return real_decode(items)

    runner.decode = flaky  # type: ignore[method-assign]
    doomed = scheduler.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=5))
    with pytest.raises(RuntimeError, match="hiccup"):
        await collect(doomed)
    later = scheduler.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=3))
    assert (await collect(later))[0] == {0: "bcd"}
    assert runner.lengths == {}


async def test_grammar_masks_every_choice_and_ends_when_complete(
    scheduler: Scheduler, runner: FakeRunner
) -> None:
    # greedy alone would write "bcdefgh" then stop; the grammar forces "ca" or "cab..."
    grammar = GrammarCompiler(runner.grammar_tokenizer()).lark('start: "c" "a" "b"?')
    texts, reasons, done = await collect(
        scheduler.submit(
            GenerationRequest(prompt=[0], params=GREEDY, max_tokens=20, n=2, grammar=grammar)
        )
    )
    assert texts == {0: "cab", 1: "cab"} and reasons == {0: "stop", 1: "stop"}
    assert done.completion_tokens == 6  # complete grammar: no end-of-generation token needed
    assert runner.lengths == {}


async def test_grammar_allows_end_of_generation_when_accepting(
    scheduler: Scheduler, runner: FakeRunner
) -> None:
    grammar = GrammarCompiler(runner.grammar_tokenizer()).lark('start: "a"+')
    biased = SamplingParams(temperature=0, logit_bias={EOG: 30})
    texts, reasons, _ = await collect(
        scheduler.submit(
            GenerationRequest(prompt=[0], params=biased, max_tokens=20, grammar=grammar)
        )
    )
    assert texts == {0: "a"} and reasons == {0: "stop"}


def prefill_items(runner: FakeRunner) -> list[BatchItem]:
    return [i for batch in runner.batches for i in batch if len(i.tokens) > 1 or i.pos == 0]


async def test_cached_prompts_prefill_one_block_per_step(runner: FakeRunner) -> None:
    sched = Scheduler(
        runner,
        batch_tokens=200,
        cache=PrefixCache(runner, CacheConfig(budget_bytes=10**6, exact=True)),
    )
    sched.start()
    try:
        await collect(
            sched.submit(
                GenerationRequest(prompt=[1] * 301, params=GREEDY, max_tokens=2, cache_scope="org")
            )
        )
        await collect(
            sched.submit(GenerationRequest(prompt=[2] * 301, params=GREEDY, max_tokens=2))
        )
    finally:
        sched.stop()
    assert [(i.pos, len(i.tokens)) for i in prefill_items(runner)] == [
        (0, 128),
        (128, 128),
        (256, 45),
        (0, 200),
        (200, 101),
    ]


async def test_concurrent_shared_prefix_is_computed_once_and_reused(runner: FakeRunner) -> None:
    cache = PrefixCache(runner, CacheConfig(budget_bytes=10**6, exact=True))
    sched = Scheduler(runner, batch_tokens=64, cache=cache)
    sched.start()
    try:
        runner.hold_after = 0
        handles = [
            sched.submit(
                GenerationRequest(
                    prompt=[1] * 300 + [k], params=GREEDY, max_tokens=2, cache_scope="org"
                )
            )
            for k in range(3)
        ]
        runner.release.set()
        done = [(await collect(h))[2] for h in handles]
        other_org = await collect(
            sched.submit(
                GenerationRequest(
                    prompt=[1] * 300 + [5], params=GREEDY, max_tokens=2, cache_scope="org-b"
                )
            )
        )
        again = await collect(
            sched.submit(
                GenerationRequest(
                    prompt=[1] * 300 + [6], params=GREEDY, max_tokens=2, cache_scope="org"
                )
            )
        )
    finally:
        sched.stop()
    assert [d.cached_tokens for d in done] == [0, 2 * BLOCK, 2 * BLOCK]
    prefilled = sum(len(i.tokens) for i in prefill_items(runner))
    assert prefilled == 301 + 2 * (301 - 2 * BLOCK) + 301 + (301 - 2 * BLOCK)
    assert other_org[2].cached_tokens == 0 and again[2].cached_tokens == 2 * BLOCK
    stats = sched.stats.prompt_cache
    assert stats is not None and stats.resident_tokens == 0
    assert stats.stored_tokens == 4 * BLOCK  # both organizations' prefixes


async def test_admission_is_bounded_and_every_leaver_frees_its_place() -> None:
    small = FakeRunner(max_sequences=1)
    sched = Scheduler(small, batch_tokens=8, max_waiting=1)
    never_ends = SamplingParams(temperature=0, logit_bias={EOG: -100, 0: 50})
    small.hold_after = 1  # hold the engine so the first request keeps its sequence
    sched.start()
    try:
        for _ in range(3):  # places come back however a request leaves
            running = sched.submit(GenerationRequest(prompt=[0], params=never_ends, max_tokens=400))
            waiting = sched.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=3))
            with pytest.raises(ServiceUnavailable, match="currently overloaded"):
                sched.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=3))
            waiting.cancel()  # left while waiting
            running.cancel()  # left while decoding
            small.release.set()
            done = await submit_when_admitted(sched)  # both leave at the engine's next step
            assert (await collect(done))[1] == {0: "length"}  # finished
            assert (await collect(await submit_when_admitted(sched)))[1] == {0: "length"}
            small.release.clear()
            small.hold_after = len(small.batches) + 1
    finally:
        sched.stop()


async def submit_when_admitted(sched: Scheduler) -> GenerationHandle:
    """A short request, submitted again while the engine refuses it (for up to 5 s)."""
    for _ in range(500):
        try:
            return sched.submit(GenerationRequest(prompt=[0], params=GREEDY, max_tokens=3))
        except ServiceUnavailable:
            await asyncio.sleep(0.01)
    raise AssertionError("the engine never admitted the request")


async def test_prompt_logprobs_score_every_prompt_token_across_chunks(
    scheduler: Scheduler,
) -> None:
    # "abcdefgbca": 10 tokens over two 8-token chunks; the fake predicts token + 1, so
    # each "next letter" is likely and the rest are not
    prompt = [0, 1, 2, 3, 4, 5, 6, 1, 2, 0]
    for max_tokens in (0, 2):
        handle = scheduler.submit(
            GenerationRequest(
                prompt=prompt, params=GREEDY, max_tokens=max_tokens, prompt_logprobs=2
            )
        )
        first = await handle.next()
        assert isinstance(first, PromptLogprobs)
        assert [e.token for e in first.entries] == list("bcdefgbca")
        likely = [e.logprob > -0.01 for e in first.entries]
        assert likely == [True] * 6 + [False, True, False]
        assert all(len(e.top_logprobs) == 2 for e in first.entries)
        assert first.entries[6].top_logprobs[0].token == "h"
        texts, reasons, done = await collect(handle)
        assert texts == ({} if max_tokens == 0 else {0: "bc"}) and reasons == {0: "length"}
        assert (done.prompt_tokens, done.completion_tokens) == (10, max_tokens)
