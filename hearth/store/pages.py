"""Cursor pagination shared by every list endpoint (OpenAI's ``after`` / ``limit`` /
``order``; body ``{"object": "list", "data", "first_id", "last_id", "has_more"}``).

Rows are ordered by their ``seq`` column (creation order); ``after`` names the last id of
the previous page, read in the requested order, as the SDK's ``SyncCursorPage`` sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from hearth.errors import InvalidRequest

T = TypeVar("T")
Order = Literal["asc", "desc"]


@dataclass
class Page(Generic[T]):
    """One page of rows and whether more follow."""

    items: list[T]
    has_more: bool


def check_limit(limit: int, maximum: int = 100) -> int:
    """``limit`` if within 1..maximum; else ``InvalidRequest`` (param ``limit``)."""
    if not 1 <= limit <= maximum:
        raise InvalidRequest(f"Invalid 'limit': must be between 1 and {maximum}, got "
                             f"{limit}.", param="limit", code="integer_out_of_range")
    return limit


def paginate(session: Session, stmt: Select[Any], model: Any, *, after: str | None,
             limit: int, order: Order = "asc") -> Page[Any]:
    """Run ``stmt`` (a ``select(model)`` with the caller's filters) one page at a time.

    ``model`` must have ``id`` and ``seq`` columns. An ``after`` id that ``stmt`` cannot
    see is an ``InvalidRequest`` (param ``after``), so a cursor never leaks another
    project's rows. Raises ``InvalidRequest`` for a bad ``order``.
    """
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid 'order': expected 'asc' or 'desc', got {order!r}.",
                             param="order")
    if after is not None:
        anchor = session.scalar(stmt.with_only_columns(model.seq).where(model.id == after))
        if anchor is None:
            raise InvalidRequest(f"No such object for 'after': {after!r}.", param="after")
        stmt = stmt.where(model.seq > anchor if order == "asc" else model.seq < anchor)
    stmt = stmt.order_by(model.seq.asc() if order == "asc" else model.seq.desc())
    rows = list(session.scalars(stmt.limit(limit + 1)))
    return Page(rows[:limit], len(rows) > limit)


def list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The list envelope every paginated endpoint returns."""
    return {"object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": has_more}
