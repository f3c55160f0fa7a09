"""The prompt-cache block tree over a fake block store (unit level)."""

from __future__ import annotations

import numpy as np

from hearth.engine.prefix_cache import (
    BLOCK,
    Blob,
    CacheConfig,
    PrefixCache,
    block_keys,
    cacheable_blocks,
)

ORG, OTHER = "org-a", "org-b"


class FakeStore:
    """Sequences as token-count lengths; a saved block is its start position."""

    def __init__(self) -> None:
        self.lengths: dict[int, int] = {}
        self.copies: list[tuple[int, int, int]] = []
        self.saved = self.restored = 0

    def copy_prefix(self, src: int, dst: int, n_tokens: int) -> None:
        assert self.lengths[src] >= n_tokens
        self.copies.append((src, dst, n_tokens))
        self.lengths[dst] = n_tokens

    def save_block(self, seq_id: int, start: int, end: int) -> Blob:
        assert self.lengths[seq_id] >= end
        self.saved += 1
        data = np.full(100, start // BLOCK, dtype=np.uint8)
        data[1] = end - start
        return data

    def restore_block(self, data: Blob, seq_id: int) -> None:
        assert int(data[0]) * BLOCK == self.lengths.get(seq_id, 0), "blocks restore in order"
        self.restored += 1
        self.lengths[seq_id] = self.lengths.get(seq_id, 0) + int(data[1])

    def free_sequence(self, seq_id: int) -> None:
        self.lengths.pop(seq_id, None)

    def trim_sequence(self, seq_id: int, n_tokens: int) -> None:
        assert self.lengths[seq_id] >= n_tokens
        self.lengths[seq_id] = n_tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def prompt(tag: int, blocks: int, extra: int = 5) -> list[int]:
    return [tag] * (blocks * BLOCK) + list(range(extra))


def make(
    budget_blocks: int = 100, exact: bool = True, **config: float
) -> tuple[PrefixCache, FakeStore, Clock]:
    store, clock = FakeStore(), Clock()
    cache = PrefixCache(store, CacheConfig(budget_blocks * 100, exact=exact, **config), clock)
    return cache, store, clock


def compute(
    cache: PrefixCache,
    store: FakeStore,
    scope: str,
    seq: int,
    tokens: list[int],
    generated: list[int] | None = None,
) -> int:
    """Run one request: attach the cached prefix, 'prefill' the rest, 'generate'
    ``generated`` (the tokens fed back), release."""
    keys = block_keys(tokens)
    hit = cache.attach(cache.match(scope, keys, tokens), seq, len(tokens))
    assert store.lengths.get(seq, 0) == hit
    held = [*tokens, *(generated or [])]
    store.lengths[seq] = len(held)
    cache.register(scope, seq, keys, len(tokens))
    cache.release(seq, scope, held)
    return hit


def test_cacheable_blocks_leave_one_token_to_compute() -> None:
    assert [cacheable_blocks([0] * n) for n in (0, 128, 129, 256, 257)] == [0, 0, 1, 1, 2]


def test_released_blocks_are_stored_and_restored_in_order() -> None:
    cache, store, _ = make()
    assert compute(cache, store, ORG, 0, prompt(1, 3)) == 0
    assert store.saved == 3 and cache.stats().stored_tokens == 3 * BLOCK
    assert compute(cache, store, ORG, 1, prompt(1, 3, extra=9)) == 3 * BLOCK
    assert store.restored == 3 and store.saved == 3  # nothing saved twice
    stats = cache.stats()
    assert (stats.lookups, stats.hits, stats.hit_tokens, stats.resident_tokens) == (
        2,
        1,
        3 * BLOCK,
        0,
    )


def test_live_holder_is_shared_by_seq_copy_without_restoring() -> None:
    cache, store, _ = make()
    keys = block_keys(prompt(1, 4))
    store.lengths[0] = 4 * BLOCK + 5
    assert cache.register(ORG, 0, keys, 4 * BLOCK + 5) == 4
    assert cache.resident_cells == 4 * BLOCK
    assert cache.attach(cache.match(ORG, keys, prompt(1, 4)), 1, 600) == 4 * BLOCK
    assert store.copies == [(0, 1, 4 * BLOCK)] and store.restored == 0
    cache.release(0)
    assert store.saved == 0 and cache.resident_cells == 4 * BLOCK  # seq 1 still holds them
    cache.release(1)
    assert store.saved == 4 and cache.resident_cells == 0


def test_a_block_computed_twice_at_once_stays_private() -> None:
    cache, store, _ = make()
    keys = block_keys(prompt(1, 2))
    store.lengths[0] = store.lengths[1] = 300
    assert cache.register(ORG, 0, keys, 300) == 2
    assert cache.register(ORG, 1, keys, 300) == 0
    assert cache.resident_cells == 2 * BLOCK


def test_organizations_never_share_blocks() -> None:
    cache, store, _ = make()
    compute(cache, store, ORG, 0, prompt(1, 3))
    assert compute(cache, store, OTHER, 1, prompt(1, 3)) == 0
    assert compute(cache, store, ORG, 2, prompt(1, 3)) == 3 * BLOCK


def test_partial_prefix_match_stops_at_first_different_block() -> None:
    cache, store, _ = make()
    compute(cache, store, ORG, 0, prompt(1, 3))
    other = prompt(1, 3)
    other[2 * BLOCK + 7] = 99
    assert compute(cache, store, ORG, 1, other) == 2 * BLOCK


def test_lru_budget_evicts_least_recently_used_prefix_first() -> None:
    cache, store, clock = make(budget_blocks=4)
    compute(cache, store, ORG, 0, prompt(1, 2))
    clock.now += 1
    compute(cache, store, ORG, 1, prompt(2, 2))
    clock.now += 1
    compute(cache, store, ORG, 2, prompt(1, 2))  # touch prefix 1
    clock.now += 1
    compute(cache, store, ORG, 3, prompt(3, 2))  # evicts prefix 2, the least recent
    assert cache.stats().evicted_lru == 2 and cache.stats().stored_tokens == 4 * BLOCK
    assert compute(cache, store, ORG, 4, prompt(1, 2)) == 2 * BLOCK
    clock.now += 1
    assert compute(cache, store, ORG, 5, prompt(2, 2)) == 0


def test_a_prefix_loses_its_tail_before_its_head() -> None:
    cache, store, _ = make(budget_blocks=3)
    compute(cache, store, ORG, 0, prompt(1, 5))
    assert cache.stats().stored_tokens == 3 * BLOCK
    assert compute(cache, store, ORG, 1, prompt(1, 5)) == 3 * BLOCK


def test_idle_ttl_and_max_lifetime() -> None:
    cache, store, clock = make(idle_ttl=300, max_lifetime=600)
    compute(cache, store, ORG, 0, prompt(1, 2))
    clock.now += 299
    cache.sweep(force=True)
    assert compute(cache, store, ORG, 1, prompt(1, 2)) == 2 * BLOCK  # used again at 299
    clock.now += 299
    cache.sweep(force=True)
    assert compute(cache, store, ORG, 2, prompt(1, 2)) == 2 * BLOCK  # 598 s old, still ok
    clock.now += 3
    cache.sweep(force=True)  # idle 3 s but 601 s old: gone
    assert cache.stats().evicted_ttl == 2
    assert compute(cache, store, ORG, 3, prompt(1, 2)) == 0
    clock.now += 301
    cache.sweep(force=True)
    assert compute(cache, store, ORG, 4, prompt(1, 2)) == 0


def test_zero_budget_stores_nothing() -> None:
    cache, store, _ = make(budget_blocks=0)
    compute(cache, store, ORG, 0, prompt(1, 2))
    assert cache.stats().stored_tokens == 0 and compute(cache, store, ORG, 1, prompt(1, 2)) == 0


def test_blocks_registered_over_several_steps_still_evict_tail_first() -> None:
    cache, store, clock = make(budget_blocks=6)
    for tag, seq in ((1, 0), (2, 1)):
        keys = block_keys(prompt(tag, 4))
        store.lengths[seq] = 4 * BLOCK + 5
        for step in range(1, 5):  # one block per prefill step, a second apart
            clock.now += 1
            cache.register(ORG, seq, keys, step * BLOCK)
        cache.release(seq)
    assert compute(cache, store, ORG, 2, prompt(1, 4)) == 2 * BLOCK  # head kept, tail gone


def test_fast_mode_reuses_down_to_the_token_from_blocks_and_tails() -> None:
    cache, store, _ = make(exact=False)
    first = prompt(1, 2, extra=40)  # 2 blocks + 40 tokens
    assert compute(cache, store, ORG, 0, first, generated=[7] * 30) == 0
    # the 70 tokens past the last whole block are saved as a tail
    assert store.saved == 3
    # the same prompt again: every token but the last comes back (blocks, then the tail
    # restored and trimmed to 39 tokens)
    assert compute(cache, store, ORG, 1, first) == 2 * BLOCK + 39
    # the next turn: the previous prompt, its answer, then new tokens
    turn = [*first, *[7] * 30, 5, 6, 7]
    assert compute(cache, store, ORG, 2, turn) == 2 * BLOCK + 70
    # a prompt diverging inside block 1 reuses block 0 and part of block 1
    other = prompt(1, 2)
    other[BLOCK + 10] = 99
    assert compute(cache, store, ORG, 3, other) == BLOCK + 10


def test_fast_mode_shares_part_of_a_live_block_by_seq_copy() -> None:
    cache, store, _ = make(exact=False)
    keys = block_keys(prompt(1, 3))
    store.lengths[0] = 3 * BLOCK + 5
    cache.register(ORG, 0, keys, 3 * BLOCK + 5)
    other = prompt(1, 3)
    other[2 * BLOCK + 20] = 99
    match = cache.match(ORG, block_keys(other), other)
    assert cache.attach(match, 1, len(other)) == 2 * BLOCK + 20
    assert store.copies == [(0, 1, 2 * BLOCK + 20)] and store.restored == 0


def test_exact_mode_keeps_neither_tails_nor_partial_blocks() -> None:
    cache, store, _ = make(exact=True)
    first = prompt(1, 2, extra=40)
    compute(cache, store, ORG, 0, first, generated=[7] * 30)
    assert store.saved == 2
    assert compute(cache, store, ORG, 1, [*first, *[7] * 30, 5]) == 2 * BLOCK
