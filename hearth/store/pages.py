"""Cursor pagination of every repository's lists (OpenAI's ``after`` / ``before`` /
``limit`` / ``order``; the API objects are built by the service from ``Page.items``).

Rows are ordered by their ``seq`` column (creation order); ``after`` names the last id of
the previous page, ``before`` the first id of the next one, both read in the requested
order, as the SDK's ``SyncCursorPage`` sends them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from hearth.domain import Page, PageParams
from hearth.errors import InvalidRequest

T = TypeVar("T")


def paginate(
    session: Session, stmt: Select[Any], model: Any, page: PageParams, key: Any = None
) -> Page[Any]:
    """Run ``stmt`` (a ``select(model)`` with the caller's filters) one page at a time.

    ``model`` must have a ``seq`` column and an ``id`` column, or ``key``: the column
    holding the id the API shows (cursors name it). An ``after`` / ``before`` id that
    ``stmt`` cannot see is an ``InvalidRequest`` (param ``after`` / ``before``), so a cursor
    never leaks another project's rows.
    """
    ascending = page.order == "asc"
    for param, cursor in (("after", page.after), ("before", page.before)):
        if cursor is None:
            continue
        anchor = session.scalar(
            stmt.with_only_columns(model.seq).where((model.id if key is None else key) == cursor)
        )
        if anchor is None:
            raise InvalidRequest(f"No such object for '{param}': {cursor!r}.", param=param)
        stmt = stmt.where(
            model.seq > anchor if (param == "after") == ascending else model.seq < anchor
        )
    if page.before is not None and page.after is None:
        # the page just before the cursor: read backwards, then restore the order
        stmt = stmt.order_by(model.seq.desc() if ascending else model.seq.asc())
        rows = list(session.scalars(stmt.limit(page.limit + 1)))
        return Page(rows[: page.limit][::-1], len(rows) > page.limit)
    stmt = stmt.order_by(model.seq.asc() if ascending else model.seq.desc())
    rows = list(session.scalars(stmt.limit(page.limit + 1)))
    return Page(rows[: page.limit], len(rows) > page.limit)


def page_list(items: list[T], ids: list[str], page: PageParams) -> Page[T]:
    """One page of ``items`` held in memory (a row's JSON list), oldest first, whose API
    ids are ``ids``; paged exactly as ``paginate`` pages rows. ``InvalidRequest`` for a
    cursor naming none of them."""
    if page.order == "desc":
        items, ids = items[::-1], ids[::-1]
    start, end = 0, len(items)
    for param, cursor in (("after", page.after), ("before", page.before)):
        if cursor is None:
            continue
        if cursor not in ids:
            raise InvalidRequest(f"No such object for '{param}': {cursor!r}.", param=param)
        if param == "after":
            start = max(start, ids.index(cursor) + 1)
        else:
            end = min(end, ids.index(cursor))
    if page.before is not None and page.after is None:  # the page just before
        first = max(start, end - page.limit)
        return Page(items[first:end], first > start)
    return Page(items[start : min(end, start + page.limit)], start + page.limit < end)
