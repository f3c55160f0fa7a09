"""Rate limits per project and model (OpenAI guide: "Rate limits"): requests per minute
(RPM), tokens per minute (TPM) and requests per day (RPD), counted with the ``limits``
library in fixed windows: in memory, or in Redis (``HEARTH_REDIS_URL``) so that replicas
share them.

A request is admitted with ``RateLimiter.admit`` before it runs: one request is counted
(a refused request counts too, as OpenAI counts it) and its tokens are reserved, the
prompt plus ``max_tokens`` when it sets one. ``Admission.settle`` corrects the
reservation with the tokens the request really used. Counting increments first and
refuses whoever passes the limit (taking its own tokens back), so concurrent requests
never overshoot a window, in one process or across replicas.

Every admitted or refused request leaves OpenAI's ``x-ratelimit-*`` headers in the
request's ``RATE_LIMIT_HEADERS`` holder, which the HTTP layer copies to the response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import redis.asyncio as aioredis
from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.storage import storage_from_string
from openai.types.admin.organization.projects.project_rate_limit import ProjectRateLimit

from hearth.domain import Principal
from hearth.errors import RateLimited

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """One project's limits on one model (``project.rate_limit``'s fields); 0 or None:
    no such limit."""

    max_requests_per_1_minute: int
    max_tokens_per_1_minute: int
    max_requests_per_1_day: int | None = None


LimitsFor = Callable[[str, str], Awaitable[Limits]]
"""``(project id, model) -> Limits`` in force now."""

RATE_LIMIT_HEADERS: ContextVar[dict[str, str] | None] = ContextVar(
    "rate_limit_headers", default=None
)
"""The current request's holder for ``x-ratelimit-*`` headers (set by the HTTP layer;
None outside a request, where nothing is recorded)."""


def duration(seconds: float) -> str:
    """A reset time as OpenAI writes it (Go's duration format): ``20ms``, ``1s``,
    ``17.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{round(secs, 3):.3f}".rstrip("0").rstrip(".") + "s"
    if hours >= 1:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes >= 1:
        return f"{int(minutes)}m{text}"
    return text


@dataclass
class _Window:
    item: RateLimitItem
    key: str
    used: int
    reset: float  # unix s


class Admission:
    """An admitted request's reservation; ``settle`` corrects it once."""

    def __init__(self, limiter: RateLimiter, tokens: _Window | None, reserved: int) -> None:
        self._limiter = limiter
        self._tokens = tokens
        self._reserved = reserved
        self._settled = False

    async def settle(self, used_tokens: int) -> None:
        """Count ``used_tokens`` instead of the reservation: the difference is added, or
        given back while the reservation's window lasts. Never raises."""
        if self._settled or self._tokens is None:
            return
        self._settled = True
        try:
            await self._limiter.correct(self._tokens, used_tokens - self._reserved)
        except Exception:  # a storage outage must not fail a finished request
            log.warning("could not correct a token reservation", exc_info=True)

    def settle_soon(self, used_tokens: int) -> None:
        """``settle`` on the running loop without waiting (from a ``finally`` block)."""
        if self._settled or self._tokens is None:
            return
        task = asyncio.get_running_loop().create_task(self.settle(used_tokens))
        _pending.add(task)
        task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()


class RateLimiter:
    """Admits requests under ``limits_for``'s limits, counted in ``storage_url``
    (``memory://``, or ``redis://host:port/db``)."""

    def __init__(self, limits_for: LimitsFor, storage_url: str = "memory://") -> None:
        self._limits_for = limits_for
        options: dict[str, Any] = {}
        self._pool: aioredis.ConnectionPool | None = None
        if storage_url.startswith(("redis://", "rediss://", "unix://")):
            # redis-py's asyncio client (limits defaults to coredis), in a pool we close
            self._pool = aioredis.ConnectionPool.from_url(storage_url)
            options = {"implementation": "redispy", "connection_pool": self._pool}
        storage = storage_from_string(f"async+{storage_url}", **options)
        assert isinstance(storage, Storage)
        self._storage = storage

    async def close(self) -> None:
        """Close the Redis connections (on the loop that used them)."""
        if self._pool is not None:
            await self._pool.disconnect()

    async def admit(self, caller: Principal, model: str, tokens: int = 0) -> Admission:
        """Count one request of ``caller``'s project on ``model`` and reserve ``tokens``.
        Raises ``RateLimited`` (429, type ``requests`` or ``tokens``, with the seconds to
        wait) when a limit is reached; the headers are left either way."""
        limits = await self._limits_for(caller.project_id, model)
        ids = (caller.project_id, model)
        rpm = rpd = tpm = None
        if limits.max_requests_per_1_minute > 0:
            item = RateLimitItemPerMinute(limits.max_requests_per_1_minute)
            rpm = await self._hit(item, ids, 1)
        if limits.max_requests_per_1_day:
            rpd = await self._hit(RateLimitItemPerDay(limits.max_requests_per_1_day), ids, 1)
        tpm_item = None
        if limits.max_tokens_per_1_minute > 0:
            tpm_item = RateLimitItemPerMinute(limits.max_tokens_per_1_minute)
        for window in (rpm, rpd):
            if window is not None and window.used > window.item.amount:
                if tpm_item is not None:
                    tpm = await self._hit(tpm_item, ids, 0)
                self._headers(rpm, tpm)
                self._raise(caller, model, "requests", window, 1)
        if tpm_item is not None:
            tpm = await self._hit(tpm_item, ids, tokens)
        self._headers(rpm, tpm)
        if tpm is not None and tpm.used > tpm.item.amount:
            await self.correct(tpm, -tokens)  # not admitted: its tokens were never used
            self._raise(caller, model, "tokens", tpm, tokens)
        return Admission(self, tpm, tokens)

    async def correct(self, window: _Window, delta: int) -> None:
        """Add ``delta`` tokens (negative: give them back, only into the same window)."""
        if delta == 0:
            return
        if delta < 0:
            # a new window ends a full window later (Redis gives the end to the second)
            if abs(await self._storage.get_expiry(window.key) - window.reset) > 2:
                return  # the window has turned: nothing of the reservation is left in it
            delta = -min(-delta, await self._storage.get(window.key))
            if delta == 0:
                return
        await self._storage.incr(window.key, window.item.get_expiry(), amount=delta)

    async def _hit(self, item: RateLimitItem, ids: tuple[str, ...], cost: int) -> _Window:
        key = item.key_for(*ids)
        if cost:
            used = await self._storage.incr(key, item.get_expiry(), amount=cost)
        else:
            used = await self._storage.get(key)
        return _Window(item, key, used, await self._storage.get_expiry(key))

    def _headers(self, rpm: _Window | None, tpm: _Window | None) -> None:
        holder = RATE_LIMIT_HEADERS.get()
        if holder is None:
            return
        now = time.time()
        for name, window in (("requests", rpm), ("tokens", tpm)):
            if window is not None:
                holder[f"x-ratelimit-limit-{name}"] = str(window.item.amount)
                remaining = max(0, window.item.amount - window.used)
                holder[f"x-ratelimit-remaining-{name}"] = str(remaining)
                holder[f"x-ratelimit-reset-{name}"] = duration(max(0.0, window.reset - now))

    def _raise(
        self, caller: Principal, model: str, kind: str, window: _Window, requested: int
    ) -> NoReturn:
        wait = max(0.0, window.reset - time.time())
        unit = {
            ("requests", 60): "requests per min (RPM)",
            ("requests", 86400): "requests per day (RPD)",
            ("tokens", 60): "tokens per min (TPM)",
        }[(kind, window.item.get_expiry())]
        used = min(window.used - requested, window.item.amount)
        raise RateLimited(
            f"Rate limit reached for {model} in organization {caller.organization_id} on "
            f"{unit}: Limit {window.item.amount}, Used {used}, Requested {requested}. "
            f"Please try again in {duration(wait)}.",
            kind=kind,
            retry_after=wait,
        )


async def admit(
    limiter: RateLimiter | None, caller: Principal, model: str, tokens: int = 0
) -> Admission | None:
    """``limiter.admit`` for a request made with an API key; None without a limiter or
    for background work (eval runs, fine-tuning, runs continuing without a request), which
    the caller's own request was already admitted for."""
    if limiter is None or not caller.api_key_id:
        return None
    return await limiter.admit(caller, model, tokens)


class CachedLimits:
    """``LimitsFor`` over ``lookup`` (which reads the database), each answer kept ``ttl``
    seconds so that a request costs no query; ``forget`` drops a project's answers when its
    limits change in this process (another replica sees a change within ``ttl``)."""

    def __init__(self, lookup: LimitsFor, ttl: float = 1.0) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._known: dict[tuple[str, str], tuple[Limits, float]] = {}

    async def __call__(self, project_id: str, model: str) -> Limits:
        now = time.monotonic()
        hit = self._known.get((project_id, model))
        if hit is not None and hit[1] > now:
            return hit[0]
        limits = await self._lookup(project_id, model)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[(project_id, model)] = (limits, now + self._ttl)
        return limits

    def forget(self, project_id: str) -> None:
        """Drop ``project_id``'s cached limits (they were just modified)."""
        for key in [k for k in self._known if k[0] == project_id]:
            del self._known[key]


class RateLimitSource(Protocol):
    """Where a project's limits are kept: the Admin API's ``project.rate_limit``s."""

    async def rate_limit_for(self, project_id: str, model: str) -> ProjectRateLimit | None: ...


async def project_limits(source: RateLimitSource, project_id: str, model: str) -> Limits:
    """``project_id``'s limits on ``model`` as ``source`` keeps them (its own, else the
    server's defaults; none: no limit)."""
    found = await source.rate_limit_for(project_id, model)
    if found is None:
        return Limits(0, 0)
    return Limits(
        found.max_requests_per_1_minute,
        found.max_tokens_per_1_minute,
        found.max_requests_per_1_day,
    )
