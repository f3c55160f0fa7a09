"""Automatic prompt caching: a radix tree of 128-token KV blocks per tenant.

Follows OpenAI's prompt caching (DevDay 2024; platform guide "Prompt caching"): the
longest previously computed prefix is reused in 128-token blocks; entries idle for
``idle_ttl`` seconds are dropped and none lives past ``max_lifetime``; trees are scoped
per organization (and model, by construction: one cache per runner), so tenants never
share an entry. The tree follows SGLang's RadixAttention (Zheng et al. 2024), with blocks
as edges.

A block lives in one or both of two places:

- **resident**: KV cells held by live sequences (its ``holders``). A new request copies
  them with ``llama_memory_seq_cp`` (no recompute, no memory copy). Invariant: a sequence
  holding block k holds blocks 0..k-1 (it computed, restored or copied them in order), so
  copying positions ``[0, end_k)`` from any holder of block k is sound.
- **stored**: a host-memory copy (llama.cpp's per-sequence state bytes), made when its last
  holder is freed. Idle prefixes live here, not in the KV cache: llama.cpp attends over
  every used cell of the unified cache (masked or not), so idle cells there slowed every
  other request (measured: 8,000 idle cells cut decode ~20% and doubled prefill time).
  Restoring a block copies ~3 MB (SmolLM2-135M, F16 KV), ~0.2 ms.

The memory budget bounds stored bytes with LRU eviction (least recently used first, deeper
blocks first on ties, so a prefix loses its tail before its head). Eviction only drops
host copies; resident cells belong to requests in flight and are never touched.

Engine thread only, except ``stats()`` (a snapshot read under a lock).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

BLOCK = 128
"""Tokens per cache block (OpenAI reuses prefixes in 128-token increments)."""

LOGITS_KEPT = 16
"""Whole prompts whose final logits are kept (one vocabulary of float32 each: ~200 KB for
SmolLM2), for repeats of the same prompt."""

Blob = npt.NDArray[np.uint8]
"""A block's KV cells as llama.cpp's per-sequence state bytes."""


class BlockStore(Protocol):
    """What the cache needs from a runner (``LlamaCppRunner`` implements it)."""

    def copy_prefix(self, src: int, dst: int, n_tokens: int) -> None:
        """``dst`` shares ``src``'s cells for positions ``[0, n_tokens)``."""
        ...

    def save_block(self, seq_id: int, start: int, end: int) -> Blob:
        """A host copy of ``seq_id``'s cells for positions ``[start, end)``."""
        ...

    def restore_block(self, data: Blob, seq_id: int) -> None:
        """Give ``seq_id`` new cells holding a block saved by ``save_block``."""
        ...

    def free_sequence(self, seq_id: int) -> None:
        """Drop every cell of ``seq_id``."""
        ...

    def trim_sequence(self, seq_id: int, n_tokens: int) -> None:
        """Drop ``seq_id``'s cells at positions ``n_tokens`` and beyond."""
        ...


@dataclass(frozen=True)
class CacheConfig:
    """``budget_bytes``: host memory for stored blocks; times in seconds.

    ``exact``: a hit reuses whole blocks only and the rest of the prompt is computed in
    the same block-aligned chunks as a cold prompt, so a hit never changes a single
    logit. Off (the default), a hit also reuses a partial block (down to the token, from
    a block or a saved tail), and a finished sequence's generated tokens are kept too, so
    the next turn of a conversation reuses its previous answer; the cells computed after
    a hit may then differ from a cold run's in the last bits of their rounding."""

    budget_bytes: int
    idle_ttl: float = 300.0
    max_lifetime: float = 3600.0
    exact: bool = False


@dataclass(frozen=True)
class CacheStats:
    """Counters since start and the current footprint.

    ``hit_rate``: matched prompt tokens ÷ looked-up prompt tokens. ``resident_tokens``:
    tokens of blocks shared from live sequences' KV cells; ``stored_tokens`` and
    ``stored_bytes``: blocks held in host memory (within ``budget_bytes``).
    """

    lookups: int
    hits: int
    lookup_tokens: int
    hit_tokens: int
    hit_rate: float
    resident_tokens: int
    stored_tokens: int
    stored_bytes: int
    budget_bytes: int
    bytes_per_token: float
    evicted_lru: int
    evicted_ttl: int


@dataclass(eq=False)
class Node:
    """One 128-token block (or a tail: fewer tokens, stored only, never a parent): its
    tokens, position in the tree and where it lives."""

    key: tuple[int, ...]
    parent: Node | None
    depth: int  # block index: starts at position depth*BLOCK
    created: float
    last_used: float
    children: dict[tuple[int, ...], Node] = field(default_factory=dict)
    tails: dict[tuple[int, ...], Node] = field(default_factory=dict)
    holders: set[int] = field(default_factory=set)
    data: Blob | None = None

    @property
    def start(self) -> int:
        return self.depth * BLOCK

    @property
    def end(self) -> int:
        return self.depth * BLOCK + len(self.key)

    @property
    def is_tail(self) -> bool:
        return len(self.key) < BLOCK


@dataclass(frozen=True)
class Match:
    """The cached prefix of a prompt: ``nodes[i]`` is block i, then the first
    ``partial_tokens`` tokens of ``partial`` (a block or a tail), if any."""

    nodes: tuple[Node, ...]
    partial: Node | None = None
    partial_tokens: int = 0
    logits: npt.NDArray[np.float32] | None = None  # the whole prompt matched: its logits

    @property
    def tokens(self) -> int:
        return len(self.nodes) * BLOCK + self.partial_tokens


NO_MATCH = Match(())


def cacheable_blocks(prompt: Sequence[int]) -> int:
    """Full blocks of a prompt that may be cached or reused: at least one prompt token
    is always computed, since its logits start the completion."""
    return max(len(prompt) - 1, 0) // BLOCK


def block_keys(prompt: Sequence[int]) -> list[tuple[int, ...]]:
    """The prompt's cacheable blocks as tree keys."""
    return [tuple(prompt[i * BLOCK : (i + 1) * BLOCK]) for i in range(cacheable_blocks(prompt))]


class PrefixCache:
    """The block tree of one model (see module doc). ``clock`` returns seconds."""

    def __init__(
        self, store: BlockStore, config: CacheConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self.config = config
        self._clock = clock
        self._roots: dict[str, Node] = {}
        self._held: dict[int, list[Node]] = {}  # seq id -> blocks it holds, in order
        self._private: set[int] = set()  # seq ids whose later blocks duplicate others'
        self._logits: OrderedDict[tuple[str, tuple[int, ...]], npt.NDArray[np.float32]] = (
            OrderedDict()
        )
        self._stored: set[Node] = set()
        self._block_bytes = 0  # one whole block's state bytes, learnt from the first save
        self._stored_bytes = 0
        self._resident = 0
        self._last_sweep = float("-inf")
        self._lock = threading.Lock()
        self._counts = dict(
            lookups=0, hits=0, lookup_tokens=0, hit_tokens=0, evicted_lru=0, evicted_ttl=0
        )

    # lookups -----------------------------------------------------------------------
    def match(self, scope: str, keys: Sequence[tuple[int, ...]], prompt: Sequence[int]) -> Match:
        """The longest available prefix of ``prompt`` (whose block ``keys`` are given):
        whole resident or stored blocks, then (unless ``exact``) the longest partial
        match among the next blocks and saved tails. One prompt token is always left."""
        node = self._roots.get(scope)
        nodes: list[Node] = []
        for key in keys:
            child = node.children.get(key) if node else None
            if child is None or not (child.holders or child.data is not None):
                break
            nodes.append(child)
            node = child
        if node is None or self.config.exact:
            return Match(tuple(nodes))
        start = len(nodes) * BLOCK
        logits = self._last_logits(scope, prompt)
        rest = prompt[start : len(prompt) if logits is not None else max(len(prompt) - 1, start)]
        best, best_n = None, 0
        for cand in (*node.children.values(), *node.tails.values()):
            if not (cand.holders or cand.data is not None):
                continue
            n = _common(cand.key, rest)
            if n > best_n:
                best, best_n = cand, n
        whole = start + best_n == len(prompt)
        return Match(tuple(nodes), best, best_n, logits if whole else None)

    def keep_logits(
        self, scope: str, prompt: Sequence[int], logits: npt.NDArray[np.float32]
    ) -> None:
        """Remember the logits after a whole prompt (the last ``LOGITS_KEPT`` prompts), so
        the same prompt again, its cells all cached, is sampled from them: nothing is
        computed, and its output is exactly the first one's."""
        if self.config.exact:
            return
        key = (scope, tuple(prompt))
        self._logits[key] = logits.copy()  # a row of the step's array: keep it alone
        self._logits.move_to_end(key)
        while len(self._logits) > LOGITS_KEPT:
            self._logits.popitem(last=False)

    def _last_logits(self, scope: str, prompt: Sequence[int]) -> npt.NDArray[np.float32] | None:
        key = (scope, tuple(prompt))
        logits = self._logits.get(key)
        if logits is not None:
            self._logits.move_to_end(key)
        return logits

    def attach(self, match: Match, seq_id: int, lookup_tokens: int) -> int:
        """Give the empty sequence ``seq_id`` the matched prefix: resident blocks by
        seq-copy from a holder, the rest restored from host memory, then a partial
        block's or tail's first tokens (its own cells from then on). Returns the tokens
        reused and counts the lookup (``lookup_tokens`` = the prompt's length)."""
        now = self._clock()
        resident = 0
        for i, node in enumerate(match.nodes):
            if node.holders:
                resident = i + 1
        partial = match.partial
        if partial is not None and partial.holders:  # a holder has every block before it
            holder = next(iter(partial.holders))
            self._store.copy_prefix(holder, seq_id, match.tokens)
        else:
            if resident:
                holder = next(iter(match.nodes[resident - 1].holders))
                self._store.copy_prefix(holder, seq_id, resident * BLOCK)
            for node in match.nodes[resident:]:
                assert node.data is not None
                self._store.restore_block(node.data, seq_id)
            if partial is not None:
                assert partial.data is not None
                self._store.restore_block(partial.data, seq_id)
                if match.tokens < partial.end:
                    self._store.trim_sequence(seq_id, match.tokens)
        if partial is not None:
            partial.last_used = now
        held = self._held.setdefault(seq_id, [])
        for node in match.nodes:
            self._hold(node, seq_id)
            held.append(node)
            node.last_used = now
        with self._lock:
            self._counts["lookups"] += 1
            self._counts["lookup_tokens"] += lookup_tokens
            self._counts["hit_tokens"] += match.tokens
            self._counts["hits"] += match.tokens > 0
        return match.tokens

    # growth ------------------------------------------------------------------------
    def register(
        self, scope: str, seq_id: int, keys: Sequence[tuple[int, ...]], computed: int
    ) -> int:
        """Record the blocks ``seq_id`` has computed (its first ``computed`` prompt
        tokens). Returns how many blocks it newly holds for the tree. A block another
        live sequence already holds (both computed it at once) stays the caller's own
        cells, and so do its later blocks."""
        if seq_id in self._private:
            return 0
        held = self._held.setdefault(seq_id, [])
        node = held[-1] if held else self._root(scope)
        added = 0
        now = self._clock()
        for depth in range(len(held), min(computed // BLOCK, len(keys))):
            child = node.children.get(keys[depth])
            if child is None:
                child = node.children[keys[depth]] = Node(keys[depth], node, depth, now, now)
            elif child.holders:
                self._private.add(seq_id)
                return added
            child.last_used = now
            self._hold(child, seq_id)
            held.append(child)
            node = child
            added += 1
        return added

    def fork(self, src: int, dst: int) -> None:
        """``dst`` was seq-copied from ``src`` (n > 1): it holds the same blocks."""
        self._held[dst] = list(self._held.get(src, []))
        for node in self._held[dst]:
            self._hold(node, dst)
        if src in self._private:
            self._private.add(dst)

    def release(self, seq_id: int, scope: str | None = None, tokens: Sequence[int] = ()) -> None:
        """Free ``seq_id``'s cells, first saving to host memory every block it was the
        last holder of (within the budget). Unless ``exact``, ``tokens`` (every token
        in its cells, prompt and generated, in order) are kept too: their remaining
        whole blocks join the tree and the rest is saved as a tail."""
        if tokens and scope is not None and not self.config.exact:
            self._keep_tail(scope, seq_id, tokens)
        self._private.discard(seq_id)
        now = self._clock()
        held = self._held.pop(seq_id, [])
        for node in held:  # one stamp per prefix, so LRU takes its tail before its head
            node.last_used = now
        for node in held:
            node.holders.discard(seq_id)
            if not node.holders:
                self._resident -= 1
                if node.data is None:
                    self._save(node, seq_id)
                self._prune(node)
        self._store.free_sequence(seq_id)

    @property
    def resident_cells(self) -> int:
        """KV cells of blocks shared through the tree (each counted once)."""
        return self._resident * BLOCK

    def _keep_tail(self, scope: str, seq_id: int, tokens: Sequence[int]) -> None:
        whole = len(tokens) // BLOCK
        keys = [tuple(tokens[i * BLOCK : (i + 1) * BLOCK]) for i in range(whole)]
        self.register(scope, seq_id, keys, whole * BLOCK)
        held = self._held.get(seq_id, [])
        if seq_id in self._private or len(held) != whole:
            return
        key = tuple(tokens[whole * BLOCK :])
        parent = held[-1] if held else self._root(scope)
        if not key or key in parent.tails:
            return
        now = self._clock()
        tail = Node(key, parent, whole, now, now)
        parent.tails[key] = tail
        self._save(tail, seq_id)
        if tail.data is None:
            del parent.tails[key]

    # expiry ------------------------------------------------------------------------
    def sweep(self, *, force: bool = False) -> None:
        """Drop stored blocks past their idle TTL or lifetime (at most once a second
        unless ``force``)."""
        now = self._clock()
        if not force and now - self._last_sweep < 1.0:
            return
        self._last_sweep = now
        cfg = self.config
        expired = [
            n
            for n in self._stored
            if now - n.last_used >= cfg.idle_ttl or now - n.created >= cfg.max_lifetime
        ]
        for node in sorted(expired, key=lambda n: -n.depth):
            self._drop(node, "evicted_ttl")

    def stats(self) -> CacheStats:
        """A consistent snapshot (any thread)."""
        with self._lock:
            c = dict(self._counts)
            stored_bytes, block_bytes = self._stored_bytes, self._block_bytes
        resident = self._resident
        per_token = block_bytes / BLOCK
        return CacheStats(
            lookups=c["lookups"],
            hits=c["hits"],
            lookup_tokens=c["lookup_tokens"],
            hit_tokens=c["hit_tokens"],
            hit_rate=c["hit_tokens"] / c["lookup_tokens"] if c["lookup_tokens"] else 0.0,
            resident_tokens=resident * BLOCK,
            stored_tokens=round(stored_bytes / per_token) if per_token else 0,
            stored_bytes=stored_bytes,
            budget_bytes=self.config.budget_bytes,
            bytes_per_token=per_token,
            evicted_lru=c["evicted_lru"],
            evicted_ttl=c["evicted_ttl"],
        )

    # internals ---------------------------------------------------------------------
    def _root(self, scope: str) -> Node:
        root = self._roots.get(scope)
        if root is None:
            now = self._clock()
            root = self._roots[scope] = Node((), None, -1, now, now)
        return root

    def _hold(self, node: Node, seq_id: int) -> None:
        if not node.holders:
            self._resident += 1
        node.holders.add(seq_id)

    def _save(self, node: Node, seq_id: int) -> None:
        # a tail's bytes scale with its tokens (the state holds a fixed header too, so
        # the guess errs high and the exact size is checked after the save)
        guess = -(-self._block_bytes * len(node.key) // BLOCK)
        if guess and not self._make_room(node, guess):
            return
        data = self._store.save_block(seq_id, node.start, node.end)
        if not node.is_tail and not self._block_bytes:
            self._block_bytes = len(data)
        if len(data) > guess and not self._make_room(node, len(data)):
            return
        node.data = data
        with self._lock:
            self._stored.add(node)
            self._stored_bytes += len(data)

    def _make_room(self, node: Node, size: int) -> bool:
        """Evict less recently used blocks (deeper first on ties) until ``size`` more
        bytes fit; False, evicting nothing, if it would displace a block used more
        recently than ``node``."""
        excess = self._stored_bytes + size - self.config.budget_bytes
        if excess <= 0:
            return True
        rank = (node.last_used, -node.depth)
        victims: list[Node] = []
        freed = 0
        for victim in sorted(self._stored, key=lambda n: (n.last_used, -n.depth)):
            if freed >= excess:
                break
            if (victim.last_used, -victim.depth) > rank:
                return False
            victims.append(victim)
            assert victim.data is not None
            freed += len(victim.data)
        if freed < excess:
            return False
        for victim in victims:
            self._drop(victim, "evicted_lru")
        return True

    def _drop(self, node: Node, counter: str) -> None:
        with self._lock:
            self._stored.discard(node)
            self._counts[counter] += 1
            if node.data is not None:
                self._stored_bytes -= len(node.data)
        node.data = None
        self._prune(node)

    def _prune(self, node: Node | None) -> None:
        """Unlink blocks that hold nothing and lead nowhere (leaf upwards)."""
        while (
            node is not None
            and node.parent is not None
            and not node.children
            and not node.tails
            and not node.holders
            and node.data is None
        ):
            siblings = node.parent.tails if node.is_tail else node.parent.children
            del siblings[node.key]
            node = node.parent


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common prefix of two token sequences."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
