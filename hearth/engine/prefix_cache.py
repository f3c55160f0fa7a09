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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

BLOCK = 128
"""Tokens per cache block (OpenAI reuses prefixes in 128-token increments)."""

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


@dataclass(frozen=True)
class CacheConfig:
    """``budget_bytes``: host memory for stored blocks; times in seconds."""

    budget_bytes: int
    idle_ttl: float = 300.0
    max_lifetime: float = 3600.0


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
    """One 128-token block: its tokens, position in the tree and where it lives."""

    key: tuple[int, ...]
    parent: Node | None
    depth: int  # block index: covers positions [depth*BLOCK, (depth+1)*BLOCK)
    created: float
    last_used: float
    children: dict[tuple[int, ...], Node] = field(default_factory=dict)
    holders: set[int] = field(default_factory=set)
    data: Blob | None = None

    @property
    def end(self) -> int:
        return (self.depth + 1) * BLOCK


@dataclass(frozen=True)
class Match:
    """The cached prefix of a prompt: ``nodes[i]`` is block i."""

    nodes: tuple[Node, ...]

    @property
    def tokens(self) -> int:
        return len(self.nodes) * BLOCK


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
        self._stored: set[Node] = set()
        self._block_bytes = 0
        self._resident = 0
        self._last_sweep = float("-inf")
        self._lock = threading.Lock()
        self._counts = dict(
            lookups=0, hits=0, lookup_tokens=0, hit_tokens=0, evicted_lru=0, evicted_ttl=0
        )

    # lookups -----------------------------------------------------------------------
    def match(self, scope: str, keys: Sequence[tuple[int, ...]]) -> Match:
        """The longest available prefix of ``keys`` (resident or stored blocks)."""
        node = self._roots.get(scope)
        nodes: list[Node] = []
        for key in keys:
            child = node.children.get(key) if node else None
            if child is None or not (child.holders or child.data is not None):
                break
            nodes.append(child)
            node = child
        return Match(tuple(nodes))

    def attach(self, match: Match, seq_id: int, lookup_tokens: int) -> int:
        """Give the empty sequence ``seq_id`` the matched prefix: resident blocks by
        seq-copy from a holder, the rest restored from host memory. Returns the tokens
        reused and counts the lookup (``lookup_tokens`` = the prompt's length)."""
        now = self._clock()
        resident = 0
        for i, node in enumerate(match.nodes):
            if node.holders:
                resident = i + 1
        if resident:
            holder = next(iter(match.nodes[resident - 1].holders))
            self._store.copy_prefix(holder, seq_id, resident * BLOCK)
        for node in match.nodes[resident:]:
            assert node.data is not None
            self._store.restore_block(node.data, seq_id)
        held = self._held.setdefault(seq_id, [])
        for node in match.nodes:
            self._hold(node, seq_id)
            held.append(node)
            node.last_used = now
        with self._lock:
            self._counts["lookups"] += 1
            self._counts["lookup_tokens"] += lookup_tokens
            self._counts["hit_tokens"] += match.tokens
            self._counts["hits"] += bool(match.nodes)
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

    def release(self, seq_id: int) -> None:
        """Free ``seq_id``'s cells, first saving to host memory every block it was the
        last holder of (within the budget)."""
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
            stored, block_bytes = len(self._stored), self._block_bytes
        resident = self._resident
        return CacheStats(
            lookups=c["lookups"],
            hits=c["hits"],
            lookup_tokens=c["lookup_tokens"],
            hit_tokens=c["hit_tokens"],
            hit_rate=c["hit_tokens"] / c["lookup_tokens"] if c["lookup_tokens"] else 0.0,
            resident_tokens=resident * BLOCK,
            stored_tokens=stored * BLOCK,
            stored_bytes=stored * block_bytes,
            budget_bytes=self.config.budget_bytes,
            bytes_per_token=block_bytes / BLOCK,
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
        size = self._block_bytes
        if size and not self._make_room(node, size):
            return
        data = self._store.save_block(seq_id, node.end - BLOCK, node.end)
        if not size:
            self._block_bytes = len(data)
            if not self._make_room(node, len(data)):
                return
        node.data = data
        with self._lock:
            self._stored.add(node)

    def _make_room(self, node: Node, size: int) -> bool:
        """Evict less recently used blocks (deeper first on ties) until ``node`` fits;
        False, evicting nothing, if it would displace a block used more recently."""
        excess = (len(self._stored) + 1) * size - self.config.budget_bytes
        if excess <= 0:
            return True
        rank = (node.last_used, -node.depth)
        victims = sorted(self._stored, key=lambda n: (n.last_used, -n.depth))
        victims = victims[: -(-excess // size)]
        if len(victims) * size < excess or any((v.last_used, -v.depth) > rank for v in victims):
            return False
        for victim in victims:
            self._drop(victim, "evicted_lru")
        return True

    def _drop(self, node: Node, counter: str) -> None:
        with self._lock:
            self._stored.discard(node)
            self._counts[counter] += 1
        node.data = None
        self._prune(node)

    def _prune(self, node: Node | None) -> None:
        """Unlink blocks that hold nothing and lead nowhere (leaf upwards)."""
        while (
            node is not None
            and node.parent is not None
            and not node.children
            and not node.holders
            and node.data is None
        ):
            del node.parent.children[node.key]
            node = node.parent
