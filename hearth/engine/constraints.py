"""Constrained decoding with llguidance: grammars -> per-step token masks.

A ``Grammar`` is compiled once per canonical source (JSON Schema or Lark) and cached
(LRU, bounded by an estimate of its memory); each sequence gets its own ``Constraint``,
a cheap copy of the compiled matcher, that yields the allowed-token mask for the next
step and consumes the sampled token. ``MaskWorker`` computes the masks of a whole batch
on a helper thread while the forward pass runs (llama.cpp and llguidance both release
the GIL), as OpenAI described for Structured Outputs (DevDay 2024) and llguidance
implements (github.com/guidance-ai/llguidance).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import numpy.typing as npt
from llguidance import LLExecutor, LLMatcher, LLParserLimits, LLTokenizer
from llguidance.numpy import fill_next_token_bitmask_par

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

# Compact separators and no free whitespace: output can never loop on "\n\n\n...".
JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}
# The default lexer fuel (1e6) rejects length-bounded word patterns mid-generation
# ("too many expressions constructed"); 1e7 costs at most ~200 ms once per schema.
_LIMITS = LLParserLimits(initial_lexer_fuel=10_000_000, verbose_errors=False)
COMPILE_SECONDS = 10.0
"""A grammar not compiled by then is refused (``GrammarError``: too complex). The compile
itself runs on to its end on a helper thread, bounded by llguidance's own size limits."""
_FAILURES_KEPT = 256
# Forced tokens at the start beyond this: an endless forced output, such as an object
# that requires itself (~50 ms to find; ordinary grammars force a few tokens, in µs).
_MAX_FORCED = 4096
log = logging.getLogger(__name__)
# llguidance's own wording for a limit hit; anything else unexpected is not shown
_LIMIT_WORDS = re.compile(r"limit|too (big|large|many|complex)|fuel|exceeded", re.IGNORECASE)


class GrammarError(ValueError):
    """llguidance cannot compile or enforce this grammar; ``str()`` is its message."""


class ConstraintFailed(RuntimeError):
    """The matcher reached an error state mid-generation (a resource limit was hit)."""


class Grammar:
    """A compiled grammar: ``constraint()`` gives a fresh per-sequence matcher (~10 µs)."""

    def __init__(self, prototype: LLMatcher, size: int) -> None:
        self._prototype = prototype
        self.size = size
        # set when a copy hit a lexer limit: copies share the lexer, so it is spent
        self.failed = False

    def constraint(self) -> Constraint:
        """A new ``Constraint`` at the start of the grammar."""
        return Constraint(self._prototype.deep_copy(), self)


class Constraint:
    """One sequence's position in its grammar."""

    def __init__(self, matcher: LLMatcher, grammar: Grammar) -> None:
        self.matcher = matcher
        self._grammar = grammar

    def check(self) -> None:
        """Raise ``ConstraintFailed`` if the matcher is in an error state (a resource
        limit hit mid-generation); its grammar is then recompiled on next use."""
        if self.matcher.is_error():
            self._grammar.failed = True
            raise ConstraintFailed(_first_line(self.matcher.get_error()))

    @property
    def stopped(self) -> bool:
        """The grammar is complete and admits no further token but end-of-generation."""
        return self.matcher.is_stopped()

    def consume(self, token: int) -> None:
        """Advance past ``token``; raises ``ConstraintFailed`` if the matcher errors."""
        accepted = self.matcher.consume_token(token)
        self.check()
        if not accepted:
            raise ConstraintFailed("token rejected by grammar")


def unpack_mask(bits: npt.NDArray[np.int32], n_vocab: int) -> npt.NDArray[np.bool_]:
    """An llguidance bitmask (``ceil(n_vocab/32)`` int32, bit i = token i) as bools."""
    unpacked = np.unpackbits(bits.view(np.uint8), bitorder="little")[:n_vocab]
    return unpacked.astype(np.bool_)


class CompilesGrammars(Protocol):
    """Anything that compiles grammars for one vocabulary: a ``GrammarCompiler``, or a
    served model (``ServedModel.compile_grammar``)."""

    def compile_grammar(
        self, *, json_schema: dict[str, Any] | None = None, lark: str | None = None
    ) -> Grammar:
        """The grammar of exactly one of a JSON Schema or a Lark source; raises
        ``GrammarError`` naming what cannot be enforced."""
        ...


class GrammarCompiler:
    """Compiles JSON Schema and Lark grammars for one tokenizer, with an LRU cache.

    ``cache_bytes`` bounds the cache by an estimate (grammar source size x 64 plus
    64 KiB per entry: llguidance's lexer and parser tables live in Rust memory).
    """

    def __init__(self, tokenizer: LLTokenizer, cache_bytes: int = 64 << 20) -> None:
        self.tokenizer = tokenizer
        self._cache: OrderedDict[str, Grammar] = OrderedDict()
        self._cache_bytes = cache_bytes
        self._used = 0
        self._lock = threading.Lock()
        # sources that failed, so a refused schema is not compiled again on every request
        self._failures: OrderedDict[str, GrammarError] = OrderedDict()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hearth-grammars")
        self.hits = self.misses = 0

    def json_schema(self, schema: dict[str, Any]) -> Grammar:
        """The grammar of JSON values valid under ``schema`` (keys in schema order).

        Raises ``GrammarError`` naming what llguidance cannot enforce.
        """
        key = "json:" + json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        return self._cached(
            key,
            lambda: LLMatcher.grammar_from_json_schema(
                schema, defaults=cast("JsonCompileOptions", JSON_OPTIONS)
            ),
        )

    def lark(self, source: str) -> Grammar:
        """The grammar of a Lark source in llguidance's dialect (``%json {...}`` allowed)."""
        return self._cached("lark:" + source, lambda: LLMatcher.grammar_from_lark(source))

    def compile_grammar(
        self, *, json_schema: dict[str, Any] | None = None, lark: str | None = None
    ) -> Grammar:
        """``json_schema(...)`` or ``lark(...)``: exactly one must be given."""
        if json_schema is not None and lark is None:
            return self.json_schema(json_schema)
        if lark is not None and json_schema is None:
            return self.lark(lark)
        raise ValueError("compile_grammar takes exactly one of json_schema, lark")

    def _cached(self, key: str, build: Any) -> Grammar:
        with self._lock:
            failure = self._failures.get(key)
            if failure is not None:
                raise GrammarError(str(failure))
            hit = self._cache.get(key)
            if hit is not None and hit.failed:
                del self._cache[key]
                self._used -= hit.size
            elif hit is not None:
                self._cache.move_to_end(key)
                self.hits += 1
                return hit
        try:
            grammar = self._bounded(build)
        except GrammarError as exc:
            with self._lock:
                self._failures[key] = exc
                while len(self._failures) > _FAILURES_KEPT:
                    self._failures.popitem(last=False)
            raise
        with self._lock:
            self.misses += 1
            if key not in self._cache:
                self._cache[key] = grammar
                self._used += grammar.size
                self._evict()
        return grammar

    def _bounded(self, build: Any) -> Grammar:
        """``_compile`` on a helper thread, given up after ``COMPILE_SECONDS``."""
        future = self._pool.submit(self._compile, build)
        try:
            return future.result(timeout=COMPILE_SECONDS)
        except FutureTimeout:
            log.warning("grammar compile gave up after %.0f s", COMPILE_SECONDS)
            raise GrammarError(
                f"schema too complex: not compiled within {COMPILE_SECONDS:.0f} seconds"
            ) from None

    def _compile(self, build: Any) -> Grammar:
        try:
            source = build()
            matcher = LLMatcher(self.tokenizer, source, log_level=0, limits=_LIMITS)
        except ValueError as exc:
            raise GrammarError(str(exc)) from None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a Rust panic (pyo3's PanicException is no Exception)
            log.warning("grammar compiler failed: %s", _first_line(str(exc)))
            raise GrammarError(
                "schema too complex or not supported by the grammar compiler"
            ) from None
        if matcher.is_error():
            raise GrammarError(_public(matcher.get_error()))
        probe = matcher.deep_copy()  # e.g. {"$ref": "#"} compiles but admits nothing
        bits = np.zeros((self.tokenizer.vocab_size + 31) // 32, dtype=np.int32)
        probe.unsafe_compute_mask_ptr(bits.ctypes.data, bits.nbytes)
        if probe.is_error():
            raise GrammarError("the grammar admits no output (is every reference circular?)")
        if len(probe.compute_ff_tokens()) > _MAX_FORCED or probe.is_error():
            raise GrammarError("the grammar forces endless output (a required recursive $ref?)")
        return Grammar(matcher, len(source) * 64 + (64 << 10))

    def _evict(self) -> None:
        while self._used > self._cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._used -= old.size


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "invalid grammar"


def _public(message: str) -> str:
    """llguidance's compile error as shown to a client: its first line, or for a limit
    hit, "schema too complex" with it."""
    line = _first_line(message)
    if "panicked" in line or "RUST_BACKTRACE" in message:
        log.warning("grammar compiler failed: %s", line)
        return "schema too complex or not supported by the grammar compiler"
    return f"schema too complex ({line})" if _LIMIT_WORDS.search(line) else line


class MaskWorker:
    """Computes a batch's token masks, on a helper thread overlapping the forward pass
    when ``overlap`` (spare cores), else inline after it.

    On a box whose cores all run llama.cpp, a helper thread preempts ggml's spinning
    workers and costs more than it hides (measured on 2 cores: ~0.7 ms per token versus
    ~10 µs inline), so the scheduler only overlaps when cores are left over.
    """

    def __init__(self, n_vocab: int, *, overlap: bool) -> None:
        self._n_vocab = n_vocab
        self._words = (n_vocab + 31) // 32
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-masks")
            if overlap
            else None
        )
        self._executor = LLExecutor(num_threads=2) if overlap else None

    def start(self, constraints: Sequence[Constraint]) -> PendingMasks:
        """Begin computing each constraint's next mask (or defer it to ``result()``)."""
        batch = list(constraints)
        if self._pool is None:
            return PendingMasks(lambda: self.compute(batch), None)
        future = self._pool.submit(self.compute, batch)
        return PendingMasks(future.result, future)

    def compute(self, constraints: list[Constraint]) -> list[npt.NDArray[np.bool_]]:
        """Each constraint's next mask as bools over the vocabulary, now."""
        bits = np.zeros((len(constraints), self._words), dtype=np.int32)
        if self._executor is None or len(constraints) == 1:  # no thread hops (~0.1 ms)
            for c, row in zip(constraints, bits, strict=True):
                c.matcher.unsafe_compute_mask_ptr(row.ctypes.data, row.nbytes)
        else:
            fill_next_token_bitmask_par(
                self._executor, [(c.matcher, i) for i, c in enumerate(constraints)], bits
            )
        return [unpack_mask(row, self._n_vocab) for row in bits]

    def close(self) -> None:
        """Stop the helper thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class PendingMasks:
    """Masks of one batch: ready after the forward pass (``result``)."""

    def __init__(
        self,
        get: Callable[[], list[npt.NDArray[np.bool_]]],
        future: Future[list[npt.NDArray[np.bool_]]] | None,
    ) -> None:
        self._get = get
        self._future = future

    def result(self) -> list[npt.NDArray[np.bool_]]:
        """The masks, in the order the constraints were given."""
        return self._get()

    def wait(self) -> None:
        """Wait until no helper thread touches the matchers (result ignored)."""
        if self._future is not None:
            self._future.exception()
