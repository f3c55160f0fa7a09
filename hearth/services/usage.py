"""Usage and costs (OpenAI API reference: "Usage", "Costs"): every billable call is
recorded by ``UsageMeter``, and ``UsageReports`` sums the records into the time buckets
of ``/v1/organization/usage/{kind}`` and ``/v1/organization/costs``.

Recording never slows a request: ``record`` appends to an in-memory list and a thread
writes the list in one transaction every ``FLUSH_SECONDS``. A report first writes this
process's pending records, so a call is counted as soon as its response has been sent;
another replica's calls count within ``FLUSH_SECONDS``. A process killed outright loses
at most that last second of records.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hearth.config import Price
from hearth.domain import Principal
from hearth.errors import InvalidRequest
from hearth.store.usage import UsageFilter, UsageRepository, UsageRow

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
"""How often recorded usage is written to the database."""

Kind = Literal[
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
]
"""The usage endpoints Hearth serves (``/v1/organization/usage/{kind}``)."""

WIDTHS = {"1m": 60, "1h": 3600, "1d": 86400}
"""``bucket_width`` -> seconds."""

LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
"""``bucket_width`` -> (default, maximum) buckets per page, as OpenAI's."""

COST_LIMITS = (7, 180)
"""``/costs``: default and maximum buckets per page."""

MAX_TIME = 2**40
"""Latest ``start_time`` / ``end_time`` accepted (unix s, the year 36812)."""

_IDS = ("project_id", "user_id", "api_key_id", "model")
GROUPS: dict[str, tuple[str, ...]] = {
    "completions": (*_IDS, "batch", "service_tier", "api_source"),
    "embeddings": _IDS,
    "moderations": _IDS,
    "images": (*_IDS, "size", "source"),
    "audio_speeches": _IDS,
    "audio_transcriptions": _IDS,
    "vector_stores": ("project_id",),
    "code_interpreter_sessions": ("project_id",),
}
"""Per kind, the ``group_by`` fields OpenAI accepts (and the fields each result shows,
null where not grouped)."""

COST_GROUPS = ("project_id", "user_id", "line_item", "api_key_id", "api_source")


class UsageQuery(BaseModel):
    """The query of a usage or costs request (OpenAI's names)."""

    model_config = ConfigDict(extra="forbid")

    start_time: int = Field(ge=0, le=MAX_TIME)
    end_time: int | None = Field(default=None, ge=0, le=MAX_TIME)
    bucket_width: Literal["1m", "1h", "1d"] = "1d"
    group_by: list[str] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)
    page: str | None = None
    project_ids: list[str] = Field(default_factory=list)
    user_ids: list[str] = Field(default_factory=list)
    api_key_ids: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    line_items: list[str] = Field(default_factory=list)
    batch: bool | None = None
    sources: list[str] = Field(default_factory=list)
    sizes: list[str] = Field(default_factory=list)

    @field_validator("group_by")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


@dataclass(frozen=True)
class _Window:
    """The buckets of one page: ``count`` buckets of ``width`` s from ``first`` (unix s),
    records counted from ``start`` to ``end``; ``more`` when buckets follow."""

    first: int
    width: int
    count: int
    start: int
    end: int
    more: bool

    def bounds(self, i: int) -> tuple[int, int]:
        return self.first + i * self.width, self.first + (i + 1) * self.width


class UsageMeter:
    """Records billable calls (``record``) and writes them in batches on a thread of its
    own; ``flush`` writes what is pending now, ``close`` stops the thread after a last
    flush."""

    def __init__(self, repo: UsageRepository, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._repo = repo
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # one writer, so records land in order
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(flush_seconds,), name="usage-meter", daemon=True
        )
        self._thread.start()

    def record(
        self,
        caller: Principal,
        kind: Kind,
        model: str,
        *,
        batch: bool = False,
        **units: int,
    ) -> None:
        """Count one model request of ``kind`` by ``caller`` on ``model``, with its units
        (``UsageRecord`` column names: ``input_tokens``, ``input_cached_tokens``,
        ``output_tokens``, ``characters``, ``seconds``, ``images``, ``sessions``...).
        Never raises and never blocks on the database."""
        entry = {
            "organization_id": caller.organization_id,
            "project_id": caller.project_id,
            "api_key_id": caller.api_key_id or None,
            "kind": kind,
            "model": model,
            "batch": batch,
            "created_at": int(time.time()),
            **{name: int(value) for name, value in units.items()},
        }
        with self._lock:
            self._pending.append(entry)

    def flush(self) -> None:
        """Write every pending record now (blocking; run it off the event loop). A record
        of a project deleted meanwhile is dropped with a log line, the others kept."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                self._repo.add(batch)
            except Exception:
                # one bad row (a deleted project) must not lose the rest: write one by one
                for entry in batch:
                    try:
                        self._repo.add([entry])
                    except Exception:
                        log.warning("usage record dropped: %s", entry, exc_info=True)

    def close(self) -> None:
        """Stop the writer after writing what is pending."""
        self._stop.set()
        self._thread.join()
        self.flush()

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.flush()
            except Exception:  # the database is down: keep the thread, retry next tick
                log.exception("writing usage records failed")


Clock = Callable[[], float]


class UsageReports:
    """``/v1/organization/usage/{kind}`` and ``/costs`` for one organization, from the
    records (``meter``'s pending ones written first) and the price table ``prices``."""

    def __init__(
        self,
        repo: UsageRepository,
        meter: UsageMeter,
        prices: Mapping[str, Price],
        clock: Clock = time.time,
    ) -> None:
        self._repo = repo
        self._meter = meter
        self._prices = prices
        self._clock = clock

    async def usage(self, organization_id: str, kind: Kind, query: UsageQuery) -> dict[str, Any]:
        """One page of buckets of ``kind``'s usage, as the SDK's ``Usage*Response`` JSON:
        ``{"object": "page", "data": [{"object": "bucket", "start_time", "end_time",
        "results": [...]}], "has_more", "next_page"}``. ``InvalidRequest`` (400) for a
        ``group_by`` field the kind does not have, a bad ``page`` or ``limit``, or an
        ``end_time`` not after ``start_time``."""
        for name in query.group_by:
            if name not in GROUPS[kind]:
                raise InvalidRequest(
                    f"Invalid group_by value {name!r} for {kind} usage; expected one of: "
                    f"{', '.join(GROUPS[kind])}.",
                    param="group_by",
                )
        default, maximum = LIMITS[query.bucket_width]
        window = self._window(query, WIDTHS[query.bucket_width], default, maximum)
        await asyncio.to_thread(self._meter.flush)
        if kind == "vector_stores":
            results = await asyncio.to_thread(self._vector_stores, organization_id, query, window)
        else:
            stored = [g for g in query.group_by if g in ("project_id", "api_key_id", "model")]
            if "batch" in query.group_by:
                stored.append("batch")
            rows = await asyncio.to_thread(
                self._repo.sums,
                self._filter(organization_id, kind, query, window),
                window.first,
                window.width,
                stored,
            )
            results = [[] for _ in range(window.count)]
            for row in rows:
                results[row.bucket].append(_result(kind, row, query.group_by))
        return _page(window, results)

    async def costs(self, organization_id: str, query: UsageQuery) -> dict[str, Any]:
        """One page of daily cost buckets (``UsageCostsResponse`` JSON): per bucket one
        ``organization.costs.result`` per group (``project_id``, ``line_item``,
        ``api_key_id``; none: the total), ``amount`` in USD from the price table; with
        ``line_item`` grouped, each result also has its ``quantity`` and ``quantity_unit``.
        ``InvalidRequest`` as ``usage``."""
        for name in query.group_by:
            if name not in COST_GROUPS:
                raise InvalidRequest(
                    f"Invalid group_by value {name!r} for costs; expected one of: "
                    f"{', '.join(COST_GROUPS)}.",
                    param="group_by",
                )
        if query.bucket_width != "1d":
            raise InvalidRequest("Costs support only bucket_width '1d'.", param="bucket_width")
        window = self._window(query, WIDTHS["1d"], *COST_LIMITS)
        await asyncio.to_thread(self._meter.flush)
        results = await asyncio.to_thread(self._costs, organization_id, query, window)
        return _page(window, results)

    def _costs(
        self, organization_id: str, query: UsageQuery, window: _Window
    ) -> list[list[dict[str, Any]]]:
        keys = [g for g in ("project_id", "api_key_id") if g in query.group_by]
        by_line = "line_item" in query.group_by
        totals: list[dict[tuple[Any, ...], list[Any]]] = [{} for _ in range(window.count)]
        rows = self._repo.sums(
            self._filter(organization_id, None, query, window),
            window.first,
            window.width,
            [*keys, "model", "kind"],
        )
        for row in rows:
            price = self._price(row.group["model"])
            for line, quantity, unit, amount in _line_items(row.group["kind"], row, price):
                if query.line_items and line not in query.line_items:
                    continue
                group = tuple(row.group[k] for k in keys) + ((line, unit) if by_line else ())
                slot = totals[row.bucket].setdefault(group, [0.0, 0.0])
                slot[0] += amount
                slot[1] += quantity
        out: list[list[dict[str, Any]]] = []
        for bucket in totals:
            results = []
            for group, (amount, quantity) in bucket.items():
                result: dict[str, Any] = {
                    "object": "organization.costs.result",
                    "amount": {"value": amount, "currency": "usd"},
                    "line_item": None,
                    "project_id": None,
                }
                result.update(zip(keys, group[: len(keys)], strict=True))
                if by_line:
                    result["line_item"], result["quantity_unit"] = group[len(keys) :]
                    result["quantity"] = quantity
                results.append(result)
            out.append(results)
        return out

    def _price(self, model: str) -> Price:
        return self._prices.get(model) or self._prices.get("*") or Price()

    def _window(self, query: UsageQuery, width: int, default: int, maximum: int) -> _Window:
        limit = query.limit or default
        if limit > maximum:
            raise InvalidRequest(
                f"Invalid limit {limit}: at most {maximum} buckets per page.", param="limit"
            )
        # by default up to now, this second included
        end = query.end_time if query.end_time is not None else int(self._clock()) + 1
        if end <= query.start_time:
            raise InvalidRequest("end_time must be after start_time.", param="end_time")
        # buckets start on UTC boundaries of their width, as OpenAI's do
        origin = query.start_time - query.start_time % width
        first = origin if query.page is None else _cursor(query.page, origin, width, end)
        total = math.ceil((end - first) / width)
        count = min(limit, total)
        return _Window(first, width, count, query.start_time, end, count < total)

    def _filter(
        self, organization_id: str, kind: str | None, query: UsageQuery, window: _Window
    ) -> UsageFilter:
        return UsageFilter(
            organization_id,
            kind,
            max(window.start, window.first),
            min(window.end, window.first + window.count * window.width),
            query.project_ids,
            query.api_key_ids,
            query.models,
            query.batch,
        )

    def _vector_stores(
        self, organization_id: str, query: UsageQuery, window: _Window
    ) -> list[list[dict[str, Any]]]:
        ends = [window.bounds(i)[1] for i in range(window.count)]
        per_bucket = self._repo.vector_store_bytes(organization_id, query.project_ids, ends)
        out = []
        for totals in per_bucket:
            if "project_id" in query.group_by:
                out.append([_vector_result(size, pid) for pid, size in sorted(totals.items())])
            elif totals:
                out.append([_vector_result(sum(totals.values()), None)])
            else:
                out.append([])
        return out


def _vector_result(size: int, project_id: str | None) -> dict[str, Any]:
    return {
        "object": "organization.usage.vector_stores.result",
        "usage_bytes": size,
        "project_id": project_id,
    }


def _cursor(page: str, origin: int, width: int, end: int) -> int:
    """The first bucket's start time a ``next_page`` cursor names; ``InvalidRequest``
    (param ``page``) for a cursor this query did not make."""
    try:
        text = base64.urlsafe_b64decode(page.removeprefix("page_").encode()).decode()
        first = int(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        first = -1
    if first < origin or first >= end or (first - origin) % width:
        raise InvalidRequest(f"Invalid page cursor: {page!r}.", param="page")
    return first


def _next_page(start: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(start).encode()).decode()


def _page(window: _Window, results: Sequence[list[dict[str, Any]]]) -> dict[str, Any]:
    data = []
    for i, bucket in enumerate(results):
        start, end = window.bounds(i)
        data.append({"object": "bucket", "start_time": start, "end_time": end, "results": bucket})
    return {
        "object": "page",
        "data": data,
        "has_more": window.more,
        "next_page": _next_page(window.bounds(window.count)[0]) if window.more else None,
    }


def _result(kind: str, row: UsageRow, group_by: Sequence[str]) -> dict[str, Any]:
    """One ``organization.usage.{kind}.result``: the sums, the grouped fields' values and
    null for the fields not grouped by."""
    u = row.units
    out: dict[str, Any] = {"object": f"organization.usage.{kind}.result"}
    if kind == "code_interpreter_sessions":
        out["num_sessions"] = u["sessions"]
    else:
        out["num_model_requests"] = row.requests
    if kind in ("completions", "embeddings", "moderations"):
        out["input_tokens"] = u["input_tokens"]
    if kind == "completions":
        out |= {
            "output_tokens": u["output_tokens"],
            "input_cached_tokens": u["input_cached_tokens"],
            "input_uncached_tokens": u["input_tokens"] - u["input_cached_tokens"],
            "input_audio_tokens": u["input_audio_tokens"],
            "output_audio_tokens": u["output_audio_tokens"],
        }
    elif kind == "images":
        out["images"] = u["images"]
    elif kind == "audio_speeches":
        out["characters"] = u["characters"]
    elif kind == "audio_transcriptions":
        out["seconds"] = u["seconds"]
    for name in GROUPS[kind]:
        value = row.group.get(name)
        if name == "service_tier" and name in group_by:
            value = "default"
        elif name == "api_source" and name in group_by:
            value = "unlabeled"
        out[name] = value
    return out


def _line_items(kind: str, row: UsageRow, price: Price) -> list[tuple[str, float, str, float]]:
    """``(line_item, quantity, quantity_unit, amount in USD)`` of one usage row, named as
    OpenAI names them (``"<model>, input"``...)."""
    u, model = row.units, row.group["model"]
    per_m = 1_000_000
    if kind in ("completions", "embeddings", "moderations"):
        cached = u["input_cached_tokens"]
        uncached = u["input_tokens"] - cached
        items = [(f"{model}, input", uncached, "tokens", uncached * price.input / per_m)]
        if cached:
            items.append(
                (f"{model}, cached input", cached, "tokens", cached * price.cached() / per_m)
            )
        if kind == "completions":
            out = u["output_tokens"]
            items.append((f"{model}, output", out, "tokens", out * price.output / per_m))
        return [i for i in items if i[1]]
    if kind == "audio_speeches":
        n = u["characters"]
        return [(f"{model}, characters", n, "characters", n * price.characters / per_m)]
    if kind == "audio_transcriptions":
        minutes = u["seconds"] / 60
        return [(f"{model}, duration", u["seconds"], "duration_seconds", minutes * price.minutes)]
    if kind == "code_interpreter_sessions":
        n = u["sessions"]
        return [("code interpreter sessions", n, "sessions", n * price.sessions)]
    if kind == "images":
        n = u["images"]
        return [(f"{model}, images", n, "images", n * price.images)]
    return []
