"""Tests for hearth.engine.sampling against hand-computed distributions.

Most cases use vocabularies of 3-6 tokens whose probabilities are powers of two or simple
fractions, so the expected logprobs can be written down by hand. Randomised checks use fixed
seeds, so every test is deterministic.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest

from hearth.engine.sampling import (
    SampledToken,
    Sampler,
    SamplingParams,
    TokenLogprob,
)

LN2 = math.log(2.0)


def logits_for(probs: list[float]) -> npt.NDArray[np.float32]:
    """Logits whose softmax is ``probs`` (up to float32 rounding)."""
    return np.log(np.asarray(probs, dtype=np.float64)).astype(np.float32)


def exact_log_softmax(z: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Reference log-softmax in float64 for finite or -inf inputs."""
    x = np.asarray(z, dtype=np.float64)
    top = x.max()
    return x - (top + np.log(np.exp(x - top).sum()))


def draw_tokens(sampler: Sampler, logits: npt.NDArray[np.floating], n: int) -> list[int]:
    """``n`` tokens from ``sampler`` on fixed ``logits`` (no accept calls)."""
    return [sampler.sample(logits).token for _ in range(n)]


def uniforms(seed: int, stream: int, n: int) -> list[float]:
    """The uniforms a seeded Sampler must consume, per the documented RNG construction."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, stream])))
    return [float(rng.random()) for _ in range(n)]


def reference_token(
    logits: npt.NDArray[np.floating], temperature: float, top_p: float, u: float
) -> int:
    """Straightforward full-sort implementation of the documented steps 4, 6 and 7."""
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.lexsort((np.arange(p.size), -p))  # probability desc, then id asc
    cumulative = np.cumsum(p[order])
    n_keep = min(int(np.searchsorted(cumulative, top_p - 1e-9, side="left")) + 1, p.size)
    kept = np.sort(order[:n_keep])
    cdf = np.cumsum(p[kept]) / p[kept].sum()
    return int(kept[min(int(np.searchsorted(cdf, u, side="right")), kept.size - 1)])


# --- greedy -----------------------------------------------------------------------------


def test_greedy_picks_argmax() -> None:
    sampler = Sampler(SamplingParams(temperature=0.0), n_vocab=4)
    result = sampler.sample(np.array([0.1, 2.0, -1.0, 1.5], dtype=np.float32))
    assert result == SampledToken(token=1, logprob=None, top_logprobs=())


def test_greedy_ties_go_to_lowest_id() -> None:
    sampler = Sampler(SamplingParams(temperature=0.0), n_vocab=5)
    logits = np.array([1.0, 3.0, 0.0, 3.0, 3.0], dtype=np.float32)
    assert draw_tokens(sampler, logits, 5) == [1] * 5


def test_greedy_reports_logprobs_at_temperature_one() -> None:
    sampler = Sampler(SamplingParams(temperature=0.0, top_logprobs=2), n_vocab=4)
    result = sampler.sample(logits_for([0.5, 0.25, 0.125, 0.125]))
    assert result.token == 0
    assert result.logprob == pytest.approx(math.log(0.5), abs=1e-6)
    assert [t.token for t in result.top_logprobs] == [0, 1]
    assert result.top_logprobs[1].logprob == pytest.approx(math.log(0.25), abs=1e-6)


def test_greedy_respects_logit_bias_and_penalties() -> None:
    params = SamplingParams(temperature=0.0, presence_penalty=2.0, logit_bias={0: -100.0})
    sampler = Sampler(params, n_vocab=3)
    logits = np.array([9.0, 1.0, 0.5], dtype=np.float32)
    assert sampler.sample(logits).token == 1
    sampler.accept(1)  # 1.0 - 2.0 = -1.0 < 0.5
    assert sampler.sample(logits).token == 2


# --- temperature ------------------------------------------------------------------------


def test_temperature_one_reports_the_model_distribution() -> None:
    sampler = Sampler(SamplingParams(top_logprobs=4, seed=1), n_vocab=4)
    result = sampler.sample(logits_for([0.5, 0.25, 0.125, 0.125]))
    expected = [(0, 0.5), (1, 0.25), (2, 0.125), (3, 0.125)]
    assert [(t.token, t.logprob) for t in result.top_logprobs] == [
        (tok, pytest.approx(math.log(p), abs=1e-6)) for tok, p in expected
    ]


def test_temperature_half_squares_probabilities() -> None:
    # p = (0.5, 0.25, 0.25) at T = 0.5 -> p^2 / sum(p^2) = (0.25, 0.0625, 0.0625) / 0.375
    logits = np.log(np.array([0.5, 0.25, 0.25]))
    sampler = Sampler(SamplingParams(temperature=0.5, top_logprobs=3, seed=0), n_vocab=3)
    result = sampler.sample(logits)
    assert [t.token for t in result.top_logprobs] == [0, 1, 2]
    got = [t.logprob for t in result.top_logprobs]
    assert got == pytest.approx([math.log(2 / 3), math.log(1 / 6), math.log(1 / 6)], abs=1e-12)


def test_temperature_two_takes_square_roots() -> None:
    # p = (0.5, 0.25, 0.25) at T = 2 -> sqrt(p) normalised = (sqrt2 - 1, 1 - 1/sqrt2, same)
    logits = np.log(np.array([0.5, 0.25, 0.25]))
    sampler = Sampler(SamplingParams(temperature=2.0, top_logprobs=3, seed=0), n_vocab=3)
    got = [t.logprob for t in sampler.sample(logits).top_logprobs]
    second = 1 - 1 / math.sqrt(2)
    expected = [math.log(math.sqrt(2) - 1), math.log(second), math.log(second)]
    assert got == pytest.approx(expected, abs=1e-12)


# --- penalties ----------------------------------------------------------------------------


def test_frequency_penalty_scales_with_count() -> None:
    # two accepts of token 0 with frequency_penalty ln2/2 -> logit 0 - 2 * ln2/2 = -ln2,
    # so p = (0.5, 1, 1) / 2.5 = (0.2, 0.4, 0.4)
    params = SamplingParams(frequency_penalty=LN2 / 2, top_logprobs=3, seed=0)
    sampler = Sampler(params, n_vocab=3)
    logits = np.zeros(3, dtype=np.float32)
    before = sampler.sample(logits)
    assert [t.logprob for t in before.top_logprobs] == pytest.approx([-math.log(3)] * 3)
    sampler.accept(0)
    sampler.accept(0)
    after = sampler.sample(logits)
    assert [t.token for t in after.top_logprobs] == [1, 2, 0]
    got = [t.logprob for t in after.top_logprobs]
    assert got == pytest.approx([math.log(0.4), math.log(0.4), math.log(0.2)], abs=1e-12)


def test_presence_penalty_is_applied_once_per_token() -> None:
    # token 0 accepted three times, token 1 once; presence ln2 -> p ∝ (0.5, 0.5, 1)
    params = SamplingParams(presence_penalty=LN2, top_logprobs=3, seed=0)
    sampler = Sampler(params, n_vocab=3)
    for token in (0, 0, 0, 1):
        sampler.accept(token)
    result = sampler.sample(np.zeros(3, dtype=np.float32))
    assert [t.token for t in result.top_logprobs] == [2, 0, 1]
    got = [t.logprob for t in result.top_logprobs]
    assert got == pytest.approx([math.log(0.5), math.log(0.25), math.log(0.25)], abs=1e-12)


def test_combined_penalties_follow_openai_formula() -> None:
    # mu[j] -= c[j] * 0.5 + (c[j] > 0) * 0.25 with c = (0, 2, 1, 0)
    params = SamplingParams(frequency_penalty=0.5, presence_penalty=0.25, top_logprobs=4)
    sampler = Sampler(params, n_vocab=4)
    for token in (1, 1, 2):
        sampler.accept(token)
    logits = np.array([1.0, 2.0, 0.5, -1.0], dtype=np.float32)
    result = sampler.sample(logits)
    expected = exact_log_softmax([1.0, 2.0 - 1.25, 0.5 - 0.75, -1.0])
    got = {t.token: t.logprob for t in result.top_logprobs}
    assert got == pytest.approx(dict(enumerate(expected)), abs=1e-12)
    assert result.logprob == pytest.approx(expected[result.token], abs=1e-12)


def test_negative_penalties_encourage_repeats() -> None:
    params = SamplingParams(frequency_penalty=-LN2, top_logprobs=2)
    sampler = Sampler(params, n_vocab=2)
    sampler.accept(1)  # logit 0 + ln2 -> p = (1/3, 2/3)
    result = sampler.sample(np.zeros(2, dtype=np.float32))
    assert [(t.token, t.logprob) for t in result.top_logprobs] == [
        (1, pytest.approx(math.log(2 / 3), abs=1e-12)),
        (0, pytest.approx(math.log(1 / 3), abs=1e-12)),
    ]


def test_sample_does_not_accept() -> None:
    params = SamplingParams(frequency_penalty=2.0, presence_penalty=2.0, top_logprobs=3)
    sampler = Sampler(params, n_vocab=3)
    logits = np.array([0.3, 0.2, 0.1], dtype=np.float32)
    first = sampler.sample(logits)
    second = sampler.sample(logits)
    assert first.top_logprobs == second.top_logprobs


def test_penalties_with_temperature_apply_before_scaling() -> None:
    params = SamplingParams(temperature=0.5, presence_penalty=1.0, top_logprobs=2)
    sampler = Sampler(params, n_vocab=2)
    sampler.accept(0)
    result = sampler.sample(np.array([1.0, 0.0], dtype=np.float32))
    # (1 - 1) / 0.5 = 0 and 0 / 0.5 = 0 -> uniform
    assert [t.logprob for t in result.top_logprobs] == pytest.approx([-LN2, -LN2], abs=1e-12)


# --- logit_bias ---------------------------------------------------------------------------


def test_logit_bias_minus_100_bans() -> None:
    params = SamplingParams(logit_bias={0: -100.0}, top_logprobs=4, seed=3)
    sampler = Sampler(params, n_vocab=4)
    logits = np.array([5.0, 0.0, 0.0, 0.0], dtype=np.float32)
    tokens = draw_tokens(sampler, logits, 500)
    assert 0 not in tokens
    result = sampler.sample(logits)
    expected = exact_log_softmax([5.0 - 100.0, 0.0, 0.0, 0.0])
    assert result.top_logprobs[-1].token == 0
    assert result.top_logprobs[-1].logprob == pytest.approx(expected[0], abs=1e-9)


def test_logit_bias_plus_100_forces() -> None:
    params = SamplingParams(logit_bias={0: 100.0}, top_logprobs=1, seed=4)
    sampler = Sampler(params, n_vocab=4)
    logits = np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32)
    assert draw_tokens(sampler, logits, 500) == [0] * 500
    result = sampler.sample(logits)
    assert result.logprob is not None
    assert result.logprob == pytest.approx(0.0, abs=1e-30)
    assert result.top_logprobs == (TokenLogprob(0, result.logprob),)


def test_logit_bias_small_values_shift_logprobs_exactly() -> None:
    params = SamplingParams(logit_bias={1: LN2, 2: -LN2}, top_logprobs=3)
    sampler = Sampler(params, n_vocab=3)
    result = sampler.sample(np.zeros(3, dtype=np.float32))
    # p ∝ (1, 2, 0.5) -> (2/7, 4/7, 1/7)
    assert [(t.token, t.logprob) for t in result.top_logprobs] == [
        (1, pytest.approx(math.log(4 / 7), abs=1e-12)),
        (0, pytest.approx(math.log(2 / 7), abs=1e-12)),
        (2, pytest.approx(math.log(1 / 7), abs=1e-12)),
    ]


@pytest.mark.parametrize("bad_id", [-1, 4, 1000])
def test_logit_bias_out_of_range_id_raises_at_construction(bad_id: int) -> None:
    with pytest.raises(ValueError, match="logit_bias"):
        Sampler(SamplingParams(logit_bias={bad_id: 1.0}), n_vocab=4)


# --- top_p --------------------------------------------------------------------------------


def test_top_p_one_keeps_every_token() -> None:
    sampler = Sampler(SamplingParams(top_p=1.0, seed=5), n_vocab=4)
    tokens = draw_tokens(sampler, logits_for([0.4, 0.3, 0.2, 0.1]), 2000)
    assert set(tokens) == {0, 1, 2, 3}


def test_top_p_below_top_probability_keeps_only_top_token() -> None:
    sampler = Sampler(SamplingParams(top_p=0.3, seed=6), n_vocab=4)
    assert draw_tokens(sampler, logits_for([0.5, 0.25, 0.125, 0.125]), 500) == [0] * 500


def test_tiny_top_p_still_keeps_one_token() -> None:
    sampler = Sampler(SamplingParams(top_p=1e-12, seed=6), n_vocab=3)
    assert draw_tokens(sampler, logits_for([0.2, 0.5, 0.3]), 200) == [1] * 200


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [(0.5, {0}), (0.75, {0, 1}), (0.875, {0, 1, 2}), (0.876, {0, 1, 2, 3})],
)
def test_top_p_exactly_on_cumulative_boundary(top_p: float, kept: set[int]) -> None:
    # cumulative probabilities 0.5, 0.75, 0.875, 1.0: landing on one keeps exactly that prefix
    sampler = Sampler(SamplingParams(top_p=top_p, seed=7), n_vocab=4)
    tokens = draw_tokens(sampler, logits_for([0.5, 0.25, 0.125, 0.125]), 3000)
    assert set(tokens) == kept


@pytest.mark.parametrize(
    ("probs", "top_p", "kept"),
    [
        ([0.7, 0.2, 0.1], 0.7, {0}),
        ([0.7, 0.2, 0.1], 0.9, {0, 1}),
        ([0.3, 0.25, 0.25, 0.2], 0.3, {0}),
        ([0.3, 0.25, 0.25, 0.2], 0.55, {0, 1}),
        ([0.3, 0.25, 0.25, 0.2], 0.8, {0, 1, 2}),
    ],
)
def test_top_p_decimal_boundaries_survive_rounding(
    probs: list[float], top_p: float, kept: set[int]
) -> None:
    # float64 log/exp round trips put these cumulative sums a few ulps below top_p; the
    # documented 1e-9 tolerance still treats them as reaching it
    sampler = Sampler(SamplingParams(top_p=top_p, seed=10), n_vocab=len(probs))
    assert set(draw_tokens(sampler, np.log(np.array(probs)), 3000)) == kept


@pytest.mark.parametrize(
    ("probs", "top_p", "kept"),
    [
        ([0.25, 0.25, 0.25, 0.25], 0.5, {0, 1}),
        ([0.25, 0.25, 0.25, 0.25], 0.3, {0, 1}),
        ([0.25, 0.25, 0.25, 0.25], 0.2, {0}),
        ([0.125, 0.375, 0.375, 0.125], 0.3, {1}),
        ([0.125, 0.375, 0.375, 0.125], 0.5, {1, 2}),
        ([0.125, 0.375, 0.375, 0.125], 0.8, {0, 1, 2}),
    ],
)
def test_top_p_ties_prefer_lower_ids(probs: list[float], top_p: float, kept: set[int]) -> None:
    sampler = Sampler(SamplingParams(top_p=top_p, seed=8), n_vocab=4)
    assert set(draw_tokens(sampler, logits_for(probs), 3000)) == kept


def test_top_p_applies_after_temperature() -> None:
    # T = 0.5 turns (0.5, 0.25, 0.25) into (2/3, 1/6, 1/6): top_p 0.6 keeps only token 0,
    # although at T = 1 it would also need token 1.
    sampler = Sampler(SamplingParams(temperature=0.5, top_p=0.6, seed=9), n_vocab=3)
    assert set(draw_tokens(sampler, logits_for([0.5, 0.25, 0.25]), 1000)) == {0}


def test_empirical_frequencies_match_renormalised_nucleus() -> None:
    # nucleus of (0.5, 0.3, 0.15, 0.05) at top_p 0.9 is {0, 1, 2}, mass 0.95
    sampler = Sampler(SamplingParams(top_p=0.9, seed=1234), n_vocab=4)
    n = 20_000
    counts = Counter(draw_tokens(sampler, logits_for([0.5, 0.3, 0.15, 0.05]), n))
    assert counts[3] == 0
    for token, p in ((0, 0.5 / 0.95), (1, 0.3 / 0.95), (2, 0.15 / 0.95)):
        assert counts[token] / n == pytest.approx(p, abs=0.015)


def test_empirical_frequencies_match_tempered_distribution() -> None:
    # T = 0.5 on (0.4, 0.4, 0.2): p ∝ (0.16, 0.16, 0.04) = (4/9, 4/9, 1/9)
    sampler = Sampler(SamplingParams(temperature=0.5, seed=99), n_vocab=3)
    n = 20_000
    counts = Counter(draw_tokens(sampler, logits_for([0.4, 0.4, 0.2]), n))
    for token, p in ((0, 4 / 9), (1, 4 / 9), (2, 1 / 9)):
        assert counts[token] / n == pytest.approx(p, abs=0.015)


def test_draw_is_inverse_cdf_of_one_uniform_in_id_order() -> None:
    # kept {0, 1, 2} with renormalised p = (0.5, 0.3, 0.15) / 0.95 in id order
    seed, stream = 42, 3
    sampler = Sampler(SamplingParams(top_p=0.9, seed=seed), n_vocab=4, stream=stream)
    logits = logits_for([0.5, 0.3, 0.15, 0.05])
    edges = np.cumsum([0.5, 0.3, 0.15]) / 0.95
    expected = [int(np.searchsorted(edges, u, side="right")) for u in uniforms(seed, stream, 300)]
    assert draw_tokens(sampler, logits, 300) == expected


def assert_matches_reference(
    logits: npt.NDArray[np.float32],
    params: SamplingParams,
    allowed: npt.NDArray[np.bool_] | None = None,
    steps: int = 40,
) -> None:
    """Tokens of a seeded Sampler equal the full-sort reference fed the same uniforms."""
    assert params.seed is not None
    sampler = Sampler(params, n_vocab=logits.size)
    masked = logits if allowed is None else np.where(allowed, logits, -np.inf)
    expected = [
        reference_token(masked, params.temperature, params.top_p, u)
        for u in uniforms(params.seed, 0, steps)
    ]
    assert [sampler.sample(logits, allowed).token for _ in range(steps)] == expected


@pytest.mark.parametrize(
    ("scale", "temperature", "top_p", "masked"),
    [
        (4.0, 1.0, 0.9, False),  # nucleus (6 tokens) found within the top 256
        (2.5, 1.0, 0.9, False),  # nucleus of ~650 tokens: needs the top 1024
        (0.2, 1.0, 0.95, False),  # nucleus of ~4600 tokens: needs a full sort
        (0.5, 1.0, 1.0, False),  # no truncation: blocked inverse CDF over 5000 tokens
        (3.0, 0.01, 0.99, False),  # most weights underflow to exactly 0
        (2.0, 1.3, 0.9, True),  # 95% of the vocabulary masked out
    ],
)
def test_matches_full_sort_reference_on_larger_vocab(
    scale: float, temperature: float, top_p: float, masked: bool
) -> None:
    rng = np.random.default_rng(int(scale * 100))
    logits = (rng.standard_normal(5000) * scale).astype(np.float32)
    allowed = rng.random(5000) < 0.05 if masked else None
    params = SamplingParams(temperature=temperature, top_p=top_p, seed=2024)
    assert_matches_reference(logits, params, allowed)


def test_matches_reference_when_most_tokens_share_the_lowest_logit() -> None:
    # 3000 of 5000 tokens tie at the minimum logit, and the nucleus must reach into them
    rng = np.random.default_rng(5)
    logits = np.zeros(5000, dtype=np.float32)
    logits[rng.permutation(5000)[:2000]] = rng.random(2000).astype(np.float32) * 0.5 + 0.1
    assert_matches_reference(logits, SamplingParams(top_p=0.8, seed=31))


# --- seeds and streams ---------------------------------------------------------------------


def generate(
    params: SamplingParams, stream: int, n_vocab: int = 1000, steps: int = 60
) -> list[int]:
    """Tokens of a simulated generation loop (sample + accept) on deterministic logits."""
    sampler = Sampler(params, n_vocab=n_vocab, stream=stream)
    rng = np.random.default_rng(0)
    tokens = []
    for _ in range(steps):
        token = sampler.sample(rng.standard_normal(n_vocab).astype(np.float32)).token
        sampler.accept(token)
        tokens.append(token)
    return tokens


def test_same_seed_same_tokens() -> None:
    params = SamplingParams(temperature=0.9, top_p=0.95, frequency_penalty=0.3, seed=77)
    assert generate(params, stream=0) == generate(params, stream=0)


def test_different_stream_or_seed_different_tokens() -> None:
    params = SamplingParams(seed=77)
    base = generate(params, stream=0)
    assert generate(params, stream=1) != base
    assert generate(SamplingParams(seed=78), stream=0) != base


def test_unseeded_samplers_work() -> None:
    tokens = generate(SamplingParams(), stream=0, steps=10)
    assert all(0 <= t < 1000 for t in tokens)


def test_negative_seed_is_reproducible() -> None:
    params = SamplingParams(seed=-5)
    assert generate(params, stream=0, steps=20) == generate(params, stream=0, steps=20)


# --- logprobs -------------------------------------------------------------------------------


def test_logprobs_off_by_default() -> None:
    result = Sampler(SamplingParams(seed=0), n_vocab=3).sample(np.zeros(3, dtype=np.float32))
    assert result.logprob is None
    assert result.top_logprobs == ()


def test_top_logprobs_zero_still_reports_chosen_logprob() -> None:
    sampler = Sampler(SamplingParams(top_logprobs=0, seed=0), n_vocab=4)
    result = sampler.sample(logits_for([0.5, 0.25, 0.125, 0.125]))
    assert result.top_logprobs == ()
    expected = {0: 0.5, 1: 0.25, 2: 0.125, 3: 0.125}[result.token]
    assert result.logprob == pytest.approx(math.log(expected), abs=1e-6)


@pytest.mark.parametrize("k", [1, 3, 6, 20])
def test_top_logprobs_length_order_and_mass(k: int) -> None:
    logits = np.array([0.3, -1.0, 2.0, 0.3, 1.1, -0.2], dtype=np.float32)
    sampler = Sampler(SamplingParams(top_logprobs=k, temperature=0.7, seed=0), n_vocab=6)
    result = sampler.sample(logits)
    assert len(result.top_logprobs) == min(k, 6)
    expected_order = [2, 4, 0, 3, 5, 1][:k]  # tie 0.3/0.3 -> lower id first
    assert [t.token for t in result.top_logprobs] == expected_order
    logprobs = [t.logprob for t in result.top_logprobs]
    assert logprobs == sorted(logprobs, reverse=True)
    assert sum(math.exp(lp) for lp in logprobs) <= 1.0 + 1e-12
    exact = exact_log_softmax(logits.astype(np.float64) / 0.7)
    assert logprobs == pytest.approx([exact[t] for t in expected_order], abs=1e-12)


def test_chosen_logprob_exact_even_outside_top_k_and_nucleus_truncation() -> None:
    # top_p truncates the draw to {0, 1}, but logprobs stay those of the full distribution
    logits = np.array([1.0, 0.9, 0.8, 0.7, -3.0], dtype=np.float32)
    params = SamplingParams(top_logprobs=1, top_p=0.5, seed=11)
    sampler = Sampler(params, n_vocab=5)
    exact = exact_log_softmax(logits.astype(np.float64))
    results = [sampler.sample(logits) for _ in range(200)]
    assert {r.token for r in results} == {0, 1}
    for r in results:
        assert r.logprob == pytest.approx(exact[r.token], abs=1e-12)
        assert [t.token for t in r.top_logprobs] == [0]
        assert r.top_logprobs[0].logprob == pytest.approx(exact[0], abs=1e-12)


# --- allowed mask ---------------------------------------------------------------------------


def test_allowed_mask_excludes_tokens_and_renormalises() -> None:
    allowed = np.array([False, True, False, True])
    sampler = Sampler(SamplingParams(top_logprobs=4, seed=12), n_vocab=4)
    logits = logits_for([0.4, 0.1, 0.3, 0.2])  # allowed: (0.1, 0.2) -> (1/3, 2/3)
    results = [sampler.sample(logits, allowed) for _ in range(500)]
    assert {r.token for r in results} == {1, 3}
    top = results[0].top_logprobs
    assert [t.token for t in top] == [3, 1, 0, 2]
    assert [t.logprob for t in top[:2]] == pytest.approx(
        [math.log(2 / 3), math.log(1 / 3)], abs=1e-6
    )
    assert [t.logprob for t in top[2:]] == [-9999.0, -9999.0]  # OpenAI's "very unlikely"


def test_allowed_mask_with_greedy() -> None:
    sampler = Sampler(SamplingParams(temperature=0.0), n_vocab=4)
    allowed = np.array([False, True, True, False])
    assert sampler.sample(np.array([9.0, 1.0, 2.0, 8.0]), allowed).token == 2


def test_all_false_mask_raises() -> None:
    sampler = Sampler(SamplingParams(), n_vocab=3)
    with pytest.raises(ValueError, match="allowed"):
        sampler.sample(np.zeros(3, dtype=np.float32), np.zeros(3, dtype=bool))


def test_bad_mask_shape_or_dtype_raises() -> None:
    sampler = Sampler(SamplingParams(), n_vocab=3)
    logits = np.zeros(3, dtype=np.float32)
    with pytest.raises(ValueError, match="shape"):
        sampler.sample(logits, np.ones(4, dtype=bool))
    with pytest.raises(TypeError, match="bool"):
        sampler.sample(logits, np.ones(3, dtype=np.int64))


# --- input handling and validation ------------------------------------------------------------


def test_inputs_are_not_mutated() -> None:
    params = SamplingParams(
        temperature=0.7,
        top_p=0.8,
        frequency_penalty=0.5,
        presence_penalty=0.5,
        logit_bias={1: 3.0, 4: -100.0},
        top_logprobs=3,
        seed=13,
    )
    sampler = Sampler(params, n_vocab=6)
    sampler.accept(2)
    logits = np.array([0.5, -0.5, 1.5, 0.0, 2.0, -2.0], dtype=np.float32)
    allowed = np.array([True, True, True, False, True, True])
    logits_before, allowed_before = logits.copy(), allowed.copy()
    for _ in range(5):
        sampler.sample(logits, allowed)
        sampler.sample(logits)
    np.testing.assert_array_equal(logits, logits_before)
    np.testing.assert_array_equal(allowed, allowed_before)


def test_float64_and_float16_logits_are_accepted() -> None:
    sampler = Sampler(SamplingParams(temperature=0.0, top_logprobs=1), n_vocab=3)
    for dtype in (np.float16, np.float64):
        assert sampler.sample(np.array([0.0, 1.0, 0.5], dtype=dtype)).token == 1


@pytest.mark.parametrize(
    "logits",
    [np.array([0.0, np.nan, 1.0]), np.array([0.0, np.inf, 1.0]), np.full(3, -np.inf)],
)
def test_invalid_logit_values_raise(logits: npt.NDArray[np.float64]) -> None:
    with pytest.raises(ValueError):
        Sampler(SamplingParams(), n_vocab=3).sample(logits)


def test_wrong_logits_shape_or_dtype_raises() -> None:
    sampler = Sampler(SamplingParams(), n_vocab=3)
    with pytest.raises(ValueError, match="shape"):
        sampler.sample(np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        sampler.sample(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="float"):
        sampler.sample(np.zeros(3, dtype=np.int32))


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(temperature=-0.1),
        SamplingParams(temperature=2.1),
        SamplingParams(temperature=math.nan),
        SamplingParams(top_p=0.0),
        SamplingParams(top_p=1.1),
        SamplingParams(frequency_penalty=2.5),
        SamplingParams(presence_penalty=-2.5),
        SamplingParams(top_logprobs=-1),
        SamplingParams(top_logprobs=21),
        SamplingParams(logit_bias={0: 100.5}),
    ],
)
def test_out_of_range_params_raise(params: SamplingParams) -> None:
    with pytest.raises(ValueError):
        Sampler(params, n_vocab=4)


def test_bad_vocab_stream_or_accepted_token_raises() -> None:
    with pytest.raises(ValueError):
        Sampler(SamplingParams(), n_vocab=0)
    with pytest.raises(ValueError):
        Sampler(SamplingParams(), n_vocab=4, stream=-1)
    sampler = Sampler(SamplingParams(), n_vocab=4)
    with pytest.raises(ValueError):
        sampler.accept(4)
    with pytest.raises(ValueError):
        sampler.accept(-1)


# --- realistic size -------------------------------------------------------------------------


def test_smoke_49152_vocab_top_p_and_top_logprobs() -> None:
    n_vocab = 49_152
    rng = np.random.default_rng(49152)
    params = SamplingParams(temperature=0.8, top_p=0.9, top_logprobs=20, seed=5)
    sampler = Sampler(params, n_vocab=n_vocab)
    for _ in range(5):
        logits = (rng.standard_normal(n_vocab) * 4).astype(np.float32)
        result = sampler.sample(logits)
        sampler.accept(result.token)
        exact = exact_log_softmax(logits.astype(np.float64) / 0.8)
        assert 0 <= result.token < n_vocab
        assert result.logprob == pytest.approx(exact[result.token], abs=1e-9)
        logprobs = [t.logprob for t in result.top_logprobs]
        assert len(logprobs) == 20
        assert logprobs == sorted(logprobs, reverse=True)
        assert sum(math.exp(lp) for lp in logprobs) <= 1.0
        assert [t.token for t in result.top_logprobs] == list(np.argsort(-exact)[:20])
