"""Token sampler for Hearth's inference engine (OpenAI Chat Completions semantics).

One :class:`Sampler` exists per generated sequence (one per ``choice`` when ``n > 1``). For
every step the engine hands it the model's raw logits, a float vector of shape ``(n_vocab,)``
as returned by llama.cpp, and gets back one :class:`SampledToken`. After the engine takes the
token it calls :meth:`Sampler.accept` so the repetition penalties can see it.

Processing order of :meth:`Sampler.sample` (every step works on a float64 copy of the logits;
the caller's array is never modified):

1. **Mask.** Tokens where ``allowed`` is False get logit ``-inf`` (grammar-constrained
   decoding). A mask with no True entry raises ``ValueError``.
2. **Penalties**, per the formula in OpenAI's API reference, "Parameter details: frequency and
   presence penalties" (https://platform.openai.com/docs/advanced-usage/parameter-details),
   referenced by ``frequency_penalty`` / ``presence_penalty`` in
   https://platform.openai.com/docs/api-reference/chat/create::

       mu[j] -> mu[j] - c[j] * frequency_penalty - float(c[j] > 0) * presence_penalty

   where ``c[j]`` counts how often token ``j`` was passed to :meth:`Sampler.accept` (generated
   tokens only; the prompt does not count).
3. **logit_bias** (same reference, ``logit_bias``): the bias is added to the logit, so -100
   effectively bans a token and +100 effectively forces it.
4. **Temperature.** ``p = softmax(z / T)``. ``T == 0`` means greedy: the argmax of ``z``
   (ties go to the lowest token id).
5. **Logprobs** (``logprobs`` / ``top_logprobs`` in the reference): ``log p`` of the chosen
   token and of the ``top_logprobs`` most likely tokens, taken from the distribution of step 4
   *before* top_p truncation, computed with a stable log-softmax in float64. At ``T == 0`` the
   distribution with ``T = 1`` is reported. A token with (numerically) zero probability is
   reported as -9999.0, the value OpenAI's ``ChatCompletionTokenLogprob`` schema uses for
   "very unlikely", so every value stays a finite, JSON-safe float.
6. **top_p** (nucleus sampling, ``top_p`` in the reference): sort tokens by probability
   descending (ties: lower id first) and keep the smallest prefix whose cumulative probability
   reaches ``top_p`` (within an absolute tolerance of 1e-9, so a ``top_p`` exactly on a
   cumulative boundary keeps exactly that prefix); at least one token is always kept.
   ``top_p == 1`` keeps every token and sorts nothing.
7. **Draw.** One uniform ``u`` in [0, 1) per call; the token is the inverse CDF of the kept
   tokens' renormalised probabilities at ``u``, the CDF running over kept tokens in ascending
   token-id order. Greedy calls draw (and discard) ``u`` as well, so a sampler's RNG position
   always equals the number of ``sample`` calls made.

Reproducibility: with ``seed`` set, the RNG is
``np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed % 2**64, stream])))``,
so the same seed, stream and logits always give the same tokens; distinct ``stream`` values
give the independent choices of one ``n > 1`` request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["SampledToken", "Sampler", "SamplingParams", "TokenLogprob", "score"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

MAX_TOP_LOGPROBS = 20
LOGPROB_FLOOR = -9999.0
"""Logprob reported for tokens whose probability is zero or below exp(-9999)."""

_TOP_P_TOLERANCE = 1e-9
_NUCLEUS_TIERS = (256, 1024)
_CDF_BLOCK = 256
_SEED_MODULUS = 2**64


@dataclass(frozen=True)
class SamplingParams:
    """Per-request sampling settings, named and ranged as in OpenAI Chat Completions.

    Ranges (checked when a :class:`Sampler` is built; violations raise ``ValueError``):
    ``temperature`` in [0, 2] (0 = greedy), ``top_p`` in (0, 1], both penalties in [-2, 2],
    ``logit_bias`` values in [-100, 100] keyed by token ids in [0, n_vocab), ``top_logprobs``
    None (logprobs off) or 0..20, ``seed`` None (OS entropy) or any int.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    logit_bias: Mapping[int, float] = field(default_factory=dict)
    top_logprobs: int | None = None
    seed: int | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """A token id and its natural-log probability (<= 0, floored at -9999.0)."""

    token: int
    logprob: float


@dataclass(frozen=True)
class SampledToken:
    """Result of one :meth:`Sampler.sample` call.

    ``logprob`` is the chosen token's log probability (None when ``top_logprobs`` is None);
    ``top_logprobs`` holds the ``min(top_logprobs, n_vocab)`` most likely tokens sorted by
    logprob descending, ties by lower id (empty when logprobs are off).
    """

    token: int
    logprob: float | None
    top_logprobs: tuple[TokenLogprob, ...]


class Sampler:
    """Stateful sampler for one sequence; see the module docstring for the algorithm.

    A Sampler keeps per-sequence state (penalty counts, RNG, scratch buffers of ``n_vocab``
    float64s) and is not safe to share between threads.

    Args:
        params: the request's sampling settings.
        n_vocab: vocabulary size; every logits vector must have shape ``(n_vocab,)``.
        stream: index of this sequence among the request's choices (>= 0); mixed into the seed.

    Raises:
        ValueError: a parameter is out of range, a ``logit_bias`` id is outside
            ``[0, n_vocab)``, ``n_vocab < 1`` or ``stream < 0``.
    """

    def __init__(self, params: SamplingParams, n_vocab: int, stream: int = 0) -> None:
        _validate_params(params, n_vocab, stream)
        self._params = params
        self._n_vocab = n_vocab
        self._rng = _make_rng(params.seed, stream)
        self._bias_ids = np.fromiter(params.logit_bias.keys(), dtype=np.intp)
        self._bias_values = np.fromiter(params.logit_bias.values(), dtype=np.float64)
        self._counts: dict[int, int] = {}
        self._penalty = np.zeros(n_vocab, dtype=np.float64)
        self._uses_penalties = params.frequency_penalty != 0 or params.presence_penalty != 0
        # Reused work buffers: fresh ~400 KB temporaries per token cost page faults.
        self._z = np.empty(n_vocab, dtype=np.float64)
        self._weights = np.empty(n_vocab, dtype=np.float64)
        self._scratch = np.empty(n_vocab, dtype=np.float64)
        self._excluded = np.empty(n_vocab, dtype=np.bool_)

    def sample(
        self, logits: npt.NDArray[np.floating], allowed: npt.NDArray[np.bool_] | None = None
    ) -> SampledToken:
        """Pick the next token from ``logits`` (shape ``(n_vocab,)``, any float dtype).

        ``allowed`` is an optional bool mask of shape ``(n_vocab,)``. Neither array is
        modified, and :meth:`accept` is not called. Exactly one uniform is drawn.

        Raises:
            ValueError: wrong shape, a mask with no allowed token, a NaN or +inf logit, or no
                token left with a finite logit after masking and biasing.
            TypeError: ``logits`` is not a float array or ``allowed`` is not a bool array.
        """
        z = self._adjusted_logits(logits, allowed)
        u = float(self._rng.random())
        temperature = self._params.temperature
        if temperature == 0.0:
            return self._report(int(np.argmax(z)), z, None)
        if temperature != 1.0:
            np.divide(z, temperature, out=z)
        weights = self._softmax_weights(z)
        kept = _nucleus(weights, self._params.top_p, self._scratch)
        if kept is None:
            token = _inverse_cdf(weights, u)
        else:
            token = int(kept[_inverse_cdf(weights[kept], u)])
        return self._report(token, z, weights)

    def accept(self, token: int) -> None:
        """Record ``token`` (in ``[0, n_vocab)``) as generated, for the penalties.

        Raises:
            ValueError: ``token`` is outside the vocabulary.
        """
        if not 0 <= token < self._n_vocab:
            raise ValueError(f"token {token} outside vocabulary of size {self._n_vocab}")
        count = self._counts.get(token, 0) + 1
        self._counts[token] = count
        params = self._params
        self._penalty[token] = count * params.frequency_penalty + params.presence_penalty

    def _adjusted_logits(
        self, logits: npt.NDArray[np.floating], allowed: npt.NDArray[np.bool_] | None
    ) -> FloatArray:
        """Steps 1-3: float64 copy of ``logits`` (in a work buffer) with mask, penalties, bias."""
        z = self._z
        np.copyto(z, _checked_logits(logits, self._n_vocab), casting="same_kind")
        if allowed is not None:
            np.logical_not(_checked_mask(allowed, self._n_vocab), out=self._excluded)
            np.copyto(z, -np.inf, where=self._excluded)
        if self._uses_penalties and self._counts:
            np.subtract(z, self._penalty, out=z)
        if self._bias_ids.size:
            z[self._bias_ids] += self._bias_values
        _check_finite_max(z)
        return z

    def _softmax_weights(self, scaled: FloatArray) -> FloatArray:
        """``exp(scaled - max(scaled))`` (unnormalised probabilities, max entry 1), in a buffer."""
        np.subtract(scaled, scaled.max(), out=self._scratch)
        return np.exp(self._scratch, out=self._weights)

    def _report(self, token: int, scaled: FloatArray, weights: FloatArray | None) -> SampledToken:
        """Step 5: build the result, with logprobs from ``log_softmax(scaled)`` when on.

        ``weights`` is ``exp(scaled - max(scaled))`` if already computed, else None.
        """
        k = self._params.top_logprobs
        if k is None:
            return SampledToken(token=token, logprob=None, top_logprobs=())
        if weights is None:
            weights = self._softmax_weights(scaled)
        log_z = float(scaled.max()) + float(np.log(weights.sum()))
        best = _top_sorted(scaled, k, self._scratch) if k else np.empty(0, dtype=np.intp)
        logprobs = np.maximum(scaled[best] - log_z, LOGPROB_FLOOR)
        alternatives = tuple(
            TokenLogprob(token=j, logprob=lp)
            for j, lp in zip(best.tolist(), logprobs.tolist(), strict=True)
        )
        return SampledToken(
            token=token, logprob=_floored(scaled[token] - log_z), top_logprobs=alternatives
        )


def score(logits: npt.NDArray[np.floating], token: int, top: int) -> SampledToken:
    """The model's own log probability of ``token`` under raw ``logits`` (shape
    ``(n_vocab,)``; temperature 1, no penalties or bias) and its ``top`` (0-20) most likely
    alternatives, floored as in step 5. Scores a given text (prompt logprobs, ``echo``)."""
    z = np.asarray(logits, dtype=np.float64)
    peak = float(z.max())
    log_z = peak + float(np.log(np.exp(z - peak).sum()))
    best = _top_sorted(z, top, np.empty_like(z)) if top else np.empty(0, dtype=np.intp)
    alternatives = tuple(
        TokenLogprob(token=j, logprob=_floored(z[j] - log_z)) for j in best.tolist()
    )
    return SampledToken(token=token, logprob=_floored(z[token] - log_z), top_logprobs=alternatives)


def _validate_params(params: SamplingParams, n_vocab: int, stream: int) -> None:
    """Raise ValueError unless every setting is within its OpenAI-documented range."""
    if n_vocab < 1:
        raise ValueError(f"n_vocab must be >= 1, got {n_vocab}")
    if stream < 0:
        raise ValueError(f"stream must be >= 0, got {stream}")
    _check_range("temperature", params.temperature, 0.0, 2.0)
    _check_range("top_p", params.top_p, 0.0, 1.0)
    if params.top_p == 0.0:
        raise ValueError("top_p must be > 0")
    _check_range("frequency_penalty", params.frequency_penalty, -2.0, 2.0)
    _check_range("presence_penalty", params.presence_penalty, -2.0, 2.0)
    k = params.top_logprobs
    if k is not None and not 0 <= k <= MAX_TOP_LOGPROBS:
        raise ValueError(f"top_logprobs must be in [0, {MAX_TOP_LOGPROBS}], got {k}")
    _check_logit_bias(params.logit_bias, n_vocab)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ValueError unless ``low <= value <= high`` (NaN fails)."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def _check_logit_bias(logit_bias: Mapping[int, float], n_vocab: int) -> None:
    """Raise ValueError for a bias id outside ``[0, n_vocab)`` or a value outside [-100, 100]."""
    for token, bias in logit_bias.items():
        if not 0 <= token < n_vocab:
            raise ValueError(f"logit_bias token {token} outside vocabulary of size {n_vocab}")
        _check_range(f"logit_bias[{token}]", bias, -100.0, 100.0)


def _make_rng(seed: int | None, stream: int) -> np.random.Generator:
    """PCG64 generator keyed by ``(seed mod 2**64, stream)``; OS entropy when seed is None."""
    if seed is None:
        return np.random.Generator(np.random.PCG64())
    entropy = np.random.SeedSequence([seed % _SEED_MODULUS, stream])
    return np.random.Generator(np.random.PCG64(entropy))


def _checked_logits(logits: npt.NDArray[np.floating], n_vocab: int) -> npt.NDArray[np.floating]:
    """Return ``logits`` as an array after checking it is a float ``(n_vocab,)`` array."""
    array = np.asarray(logits)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"logits must be a float array, got dtype {array.dtype}")
    if array.shape != (n_vocab,):
        raise ValueError(f"logits must have shape ({n_vocab},), got {array.shape}")
    return array


def _checked_mask(allowed: npt.NDArray[np.bool_], n_vocab: int) -> npt.NDArray[np.bool_]:
    """Return ``allowed`` after checking it is a bool ``(n_vocab,)`` array with a True entry."""
    mask = np.asarray(allowed)
    if mask.dtype != np.bool_:
        raise TypeError(f"allowed must be a bool array, got dtype {mask.dtype}")
    if mask.shape != (n_vocab,):
        raise ValueError(f"allowed must have shape ({n_vocab},), got {mask.shape}")
    if not mask.any():
        raise ValueError("allowed mask excludes every token")
    return mask


def _check_finite_max(z: FloatArray) -> None:
    """Raise ValueError if ``z`` holds NaN or +inf, or has no finite entry."""
    top = z.max()
    if np.isnan(top) or top == np.inf:
        raise ValueError("logits contain NaN or +inf")
    if top == -np.inf:
        raise ValueError("no token has a finite logit after masking and logit_bias")


def _floored(logprob: float) -> float:
    """Clamp a logprob to :data:`LOGPROB_FLOOR` (also turns -inf into a finite float)."""
    return max(float(logprob), LOGPROB_FLOOR)


def _ids_at_least(values: FloatArray, cutoff: float, count: int) -> IntArray:
    """Ascending ids of the ``count`` entries that are > ``cutoff`` or, filling up, == cutoff.

    Ties at the cutoff go to the lowest ids. ``count`` must not exceed the number of entries
    >= ``cutoff`` and must be at least the number > ``cutoff``.
    """
    above = np.flatnonzero(values > cutoff)
    tied = np.flatnonzero(values == cutoff)[: count - above.size]
    ids = np.concatenate((above, tied))
    ids.sort()
    return ids


def _partition_pool(values: FloatArray, scratch: FloatArray) -> FloatArray:
    """A disposable array holding the entries of ``values`` that a partition needs to see.

    NumPy's partition gets ~30x slower when most entries share one value, which is how
    masked (-inf) or underflowed (0.0) tokens look. So when the minimum fills more than half
    of ``values`` only the entries above it are returned (a fresh array); otherwise a copy
    of all of them, in ``scratch``.
    """
    above = values > values.min()
    count = int(np.count_nonzero(above))
    if 0 < 2 * count < values.size:
        return values[above]
    np.copyto(scratch, values)
    return scratch


def _kth_largest(values: FloatArray, k: int, scratch: FloatArray) -> float:
    """The ``k``-th largest entry of ``values`` (1 <= k <= size); overwrites ``scratch``."""
    pool = _partition_pool(values, scratch)
    if pool.size < k:  # the pool left out the minimum, which is then the answer
        return float(values.min())
    pool.partition(pool.size - k)
    return float(pool[pool.size - k])


def _top_sorted(values: FloatArray, k: int, scratch: FloatArray) -> IntArray:
    """Ids of the ``min(k, size)`` largest ``values``, by value descending then id ascending.

    Only the selected entries are sorted (O(size) partition + O(k log k)), and ties at the
    cut-off go to the lowest ids, so the result is fully deterministic.
    """
    k = min(k, values.size)
    ids = _ids_at_least(values, _kth_largest(values, k, scratch), k)
    return ids[np.argsort(-values[ids], kind="stable")]


def _nucleus(weights: FloatArray, top_p: float, scratch: FloatArray) -> IntArray | None:
    """Step 6: ascending ids of the top_p nucleus of ``weights`` (unnormalised probabilities).

    Returns None when ``top_p == 1`` (every token kept). The nucleus is looked for among the
    256, then 1024 most likely tokens; the whole vocabulary is sorted only when their mass
    is short of ``top_p``. ``scratch`` is a work buffer of the same size (overwritten).
    """
    if top_p >= 1.0:
        return None
    threshold = (top_p - _TOP_P_TOLERANCE) * float(weights.sum())
    pool = _partition_pool(weights, scratch)
    for k in [t for t in _NUCLEUS_TIERS if t < pool.size] + [pool.size]:
        top = _largest_descending(pool, k)
        if float(top.sum()) >= threshold:
            return _keep_prefix(weights, top, threshold)
    np.copyto(scratch, weights)  # the pool left out tokens the nucleus needs
    top = _largest_descending(scratch, scratch.size)
    return _keep_prefix(weights, top, threshold)


def _largest_descending(pool: FloatArray, k: int) -> FloatArray:
    """The ``k`` (>= 1) largest values of ``pool``, descending; reorders ``pool`` in place."""
    n = pool.size
    if k == n:
        pool.sort()
        return pool[::-1]
    pool.partition(n - k)
    return np.sort(pool[n - k :])[::-1]


def _keep_prefix(weights: FloatArray, top: FloatArray, threshold: float) -> IntArray:
    """Ascending ids of the tokens in the shortest prefix of ``top`` whose mass reaches
    ``threshold`` (all of ``top`` if none does).

    ``top`` holds the largest entries of ``weights`` in descending order; tokens tied at
    the cut-off are taken lowest id first.
    """
    n_keep = min(_crossing(top, threshold, "left") + 1, top.size)
    return _ids_at_least(weights, float(top[n_keep - 1]), n_keep)


def _inverse_cdf(weights: FloatArray, u: float) -> int:
    """Index of the token at quantile ``u`` (in [0, 1)) of ``weights`` (some > 0), in id order.

    Returns the first ``i`` with ``cumsum(weights)[i] > u * sum(weights)``; a zero-weight
    entry is never returned.
    """
    index = _crossing(weights, u * float(weights.sum()), "right")
    if index >= weights.size:  # u * total rounded up to the running total
        index = _last_positive(weights)
    return index


def _crossing(values: FloatArray, target: float, side: Literal["left", "right"]) -> int:
    """First ``i`` with ``cumsum(values)[i] >= target`` (side "left") or ``> target`` ("right").

    ``values`` must be >= 0. Returns ``values.size`` when the running sum never gets there.
    Long inputs are searched block by block (256 entries), so no full running sum is formed.
    """
    if values.size <= 4 * _CDF_BLOCK:
        return int(np.searchsorted(np.cumsum(values), target, side=side))
    starts = np.arange(0, values.size, _CDF_BLOCK)
    block_cdf = np.cumsum(np.add.reduceat(values, starts))
    block = int(np.searchsorted(block_cdf, target, side=side))
    if block >= block_cdf.size:
        return values.size
    first = int(starts[block])
    inner = np.cumsum(values[first : first + _CDF_BLOCK])
    inner += float(block_cdf[block - 1]) if block else 0.0
    index = int(np.searchsorted(inner, target, side=side))
    if index >= inner.size:  # rounding: the block's own running sum fell short
        index = _last_positive(values[first : first + _CDF_BLOCK])
    return first + index


def _last_positive(values: FloatArray) -> int:
    """Index of the last entry > 0 of ``values``; the last index if there is none."""
    positive = np.flatnonzero(values > 0)
    return int(positive[-1]) if positive.size else values.size - 1
