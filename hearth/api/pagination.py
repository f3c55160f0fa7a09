"""The page-parameters dependency of every list route (OpenAI API reference:
"Pagination"): ``limit``, ``order``, ``after``, ``before`` -> ``PageParams``.

Defaults differ per list as OpenAI's do (``client.files.list``: 10,000 newest first;
most others: 20 oldest first), so a route declares its own::

    @router.get("/evals")
    async def list(caller: Caller, svc: Svc, page: Annotated[PageParams, Depends(paging())]):
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from hearth.domain import Order, PageParams


def paging(
    default_limit: int = 20, max_limit: int = 100, default_order: Order = "asc"
) -> Callable[[Request], PageParams]:
    """A dependency reading the query's page parameters; ``InvalidRequest`` (400,
    ``param`` ``limit`` / ``order``) for a bad value."""

    def dependency(request: Request) -> PageParams:
        query = request.query_params
        return PageParams.parse(
            query.get("limit"),
            query.get("order"),
            query.get("after"),
            query.get("before"),
            default_limit=default_limit,
            max_limit=max_limit,
            default_order=default_order,
        )

    return dependency


Paging = paging()
"""The common case: 20 per page (at most 100), oldest first."""
