"""Prompt lookup decoding: the drafter's index, and verification in the scheduler over
the deterministic fake runner (its greedy next token is the last token + 1)."""

from __future__ import annotations

import pytest

from hearth.engine.constraints import GrammarCompiler
from hearth.engine.sampling import SamplingParams
from hearth.engine.scheduler import Scheduler
from hearth.engine.sequence import GenerationRequest
from hearth.engine.speculation import NgramDrafter, SpeculativeConfig
from tests.engine.test_scheduler import GREEDY, FakeRunner, collect

pytestmark = pytest.mark.anyio


def drafter(context: list[int], n: int = 3) -> NgramDrafter:
    d = NgramDrafter(n)
    d.extend(context)
    return d


def test_proposes_what_followed_the_most_recent_occurrence() -> None:
    d = drafter([5, 1, 2, 3, 9, 9, 1, 2, 3, 7, 8, 1, 2])
    assert d.propose(3, 4) == [7, 8, 1, 2]  # the later "1 2 3" wins over the first
    assert d.propose(3, 1) == [7]
    assert d.propose(4, 4) == []  # "1 2 4" never occurred
    assert d.propose(3, 0) == []


def test_index_grows_with_fed_tokens() -> None:
    d = drafter([1, 2, 3, 4])
    assert d.propose(5, 8) == []
    d.extend([5, 1, 2])
    assert len(d) == 7
    # past the end of the context the draft continues with the token being fed and itself
    assert d.propose(3, 8) == [4, 5, 1, 2, 3, 4, 5, 1]


def test_short_periods_are_drafted_to_the_limit() -> None:
    d = drafter([7, 1, 2, 1, 2, 1])
    assert d.propose(2, 5) == [1, 2, 1, 2, 1]


async def run(runner: FakeRunner, spec: SpeculativeConfig | None, *requests: GenerationRequest):
    sched = Scheduler(runner, batch_tokens=64, speculative=spec)
    sched.start()
    try:
        handles = [sched.submit(r) for r in requests]
        results = [await collect(h) for h in handles]
        return results, sched.stats
    finally:
        sched.stop()


# the fake continues 0 1 2 -> 3 4 5 6 7 8 (then end of generation); the prompt's earlier
# "0 1 2 3 4 5 0" lets drafts match for a while, then diverge from the model
PROMPT = [0, 1, 2, 3, 4, 5, 0, 1]
SPEC = SpeculativeConfig(draft_tokens=4, ngram=3, max_sequences=2)


async def test_verified_drafts_give_plain_decodings_output_in_fewer_steps() -> None:
    plain_runner, spec_runner = FakeRunner(), FakeRunner()
    req = GenerationRequest(prompt=PROMPT, params=GREEDY, max_tokens=50)
    [(plain, _, plain_done)], _ = await run(plain_runner, None, req)
    [(texts, reasons, done)], stats = await run(spec_runner, SPEC, req)
    assert texts == plain == {0: "cdefghi"} and reasons == {0: "stop"}
    assert done.completion_tokens == plain_done.completion_tokens == 8
    fed = [list(i.tokens) for batch in spec_runner.batches for i in batch][1:]
    assert fed[0] == [2, 3, 4, 5, 0]  # "0 1 2" occurred before: its follow-up is drafted
    # 3 4 5 kept, 0 rejected (the model says 6); the fake asserted contiguous positions,
    # so the rejected token's cell was dropped before the next step
    assert (stats.draft_tokens, stats.accepted_draft_tokens) == (4, 3)
    assert len(spec_runner.batches) < len(plain_runner.batches)


async def test_limits_max_tokens_stop_sequences_and_sampled_requests_match_plain() -> None:
    requests = [
        GenerationRequest(prompt=PROMPT, params=GREEDY, max_tokens=3),
        GenerationRequest(prompt=PROMPT, params=GREEDY, max_tokens=50, stop=("ef",)),
        GenerationRequest(
            prompt=PROMPT, params=SamplingParams(temperature=1.0, seed=3), max_tokens=9
        ),
    ]
    for req in requests:
        [plain], _ = await run(FakeRunner(), None, req)
        runner = FakeRunner()
        [spec], stats = await run(runner, SPEC, req)
        assert spec[:2] == plain[:2]
        assert spec[2].completion_tokens == plain[2].completion_tokens
        for batch in runner.batches[1:]:  # never drafts past max_tokens
            assert len(batch[0].tokens) <= req.max_tokens
        assert stats.accepted_draft_tokens <= stats.draft_tokens
    assert runner.lengths == {}  # every cell freed


async def test_no_drafts_for_busy_batches() -> None:
    runner = FakeRunner()
    runner.hold_after = 0  # queue all three before the first step
    sched = Scheduler(runner, batch_tokens=64, speculative=SPEC)
    sched.start()
    try:
        handles = [
            sched.submit(GenerationRequest(prompt=PROMPT, params=GREEDY, max_tokens=6))
            for _ in range(3)
        ]
        runner.release.set()
        texts = [(await collect(h))[0] for h in handles]
    finally:
        sched.stop()
    assert texts == [{0: "cdefgh"}] * 3
    assert sched.stats.draft_tokens == 0  # three sequences decoding: more than 2


async def test_constrained_sequences_get_no_drafts() -> None:
    runner = FakeRunner()
    grammar = GrammarCompiler(runner.grammar_tokenizer()).lark('start: "defgh"')
    req = GenerationRequest(prompt=PROMPT, params=GREEDY, max_tokens=20, grammar=grammar)
    [(texts, _, _)], stats = await run(runner, SPEC, req)
    assert texts == {0: "defgh"}
    assert stats.draft_tokens == 0


async def test_drafts_that_keep_missing_back_off() -> None:
    # every window "k k+1 k+2" of the answer occurred before, followed by a wrong 8
    prompt = [t for k in range(6) for t in (k, k + 1, k + 2, 8)] + [0, 1]
    runner = FakeRunner()
    req = GenerationRequest(prompt=prompt, params=GREEDY, max_tokens=50)
    [(texts, _, _)], stats = await run(runner, SPEC, req)
    assert texts == {0: "cdefghi"}
    drafting_steps = [b for b in runner.batches[1:] if len(b[0].tokens) > 1]
    # a miss pauses drafting for 2 steps, the next for 4: 2 drafts among 7 steps
    assert len(drafting_steps) == 2 and stats.accepted_draft_tokens == 0
