"""The types every layer shares: who is calling (``Principal``) and how a list is paged
(``PageParams`` in, ``CursorPage`` out). No web framework and no database here, so the
API, the services and the repositories in ``store/`` all speak them.

Paging follows the OpenAI API reference ("Pagination"): ``limit``, ``after`` (the last id
of the previous page), ``before`` (the first id of the next page) and ``order``
(``asc`` / ``desc`` by creation time); a list answers ``{"object": "list", "data",
"first_id", "last_id", "has_more"}``, which the SDK reads as a ``SyncCursorPage``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel

from hearth.errors import InvalidRequest

Order = Literal["asc", "desc"]
T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")


READ_ONLY_SCOPE = "api.all.read"
"""The scope of a read-only project key: every ``*.read`` scope, nothing else."""
MANAGEMENT_SCOPE_PREFIX = "api.management."
"""The Admin API's scopes (``api.management.read`` / ``.write``): admin keys only."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the verified API key's organization, project and key id.
    Every service call takes one (``caller``), so scoping, limits, usage and audit have
    one place to look.

    ``admin``: an Admin API key (``sk-admin-...``, ``project_id`` ""), which reaches only
    the Admin API. ``scopes``: a project key's permissions as OpenAI names them: empty
    for all, ``{"api.all.read"}`` for read only, else a restricted key's scopes
    (``hearth.services.admin.scopes``)."""

    organization_id: str
    project_id: str
    api_key_id: str
    admin: bool = False
    scopes: frozenset[str] = frozenset()

    def allows(self, scope: str) -> bool:
        """Whether this key holds ``scope`` (e.g. ``api.files.write``). A resource's
        ``.write`` scope implies its ``.read``; ``api.all.read`` grants every ``.read``;
        management scopes belong to admin keys and nothing else to them."""
        if scope.startswith(MANAGEMENT_SCOPE_PREFIX) or self.admin:
            return self.admin and scope.startswith(MANAGEMENT_SCOPE_PREFIX)
        if not self.scopes or scope in self.scopes:
            return True
        resource, _, action = scope.rpartition(".")
        return action == "read" and (
            READ_ONLY_SCOPE in self.scopes or f"{resource}.write" in self.scopes
        )

    @classmethod
    def for_project(cls, organization_id: str, project_id: str) -> Principal:
        """The caller of background work done for a project outside any request (an
        eval run, a fine-tuning job): no API key."""
        return cls(organization_id, project_id, "")


@dataclass(frozen=True)
class PageParams:
    """One page request: ``limit`` items after ``after`` / before ``before`` (ids of
    the same list, read in ``order``)."""

    limit: int = 20
    order: Order = "asc"
    after: str | None = None
    before: str | None = None

    @classmethod
    def parse(
        cls,
        limit: str | None,
        order: str | None,
        after: str | None,
        before: str | None = None,
        *,
        default_limit: int = 20,
        max_limit: int = 100,
        default_order: Order = "asc",
    ) -> PageParams:
        """Query strings as sent by the SDK -> ``PageParams``. Raises ``InvalidRequest``
        (400, ``param`` ``limit`` or ``order``) for a non-integer ``limit``, one outside
        ``1..max_limit``, or an ``order`` other than ``asc`` / ``desc``."""
        return cls(
            _limit(limit, default_limit, max_limit),
            _order(order, default_order),
            after or None,
            before or None,
        )


def _limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(
            f"Invalid 'limit': expected an integer, got {raw!r}.",
            param="limit",
            code="invalid_type",
        ) from None
    if not 1 <= value <= maximum:
        raise InvalidRequest(
            f"Invalid 'limit': must be between 1 and {maximum}, got {value}.",
            param="limit",
            code="integer_out_of_range",
        )
    return value


def _order(raw: str | None, default: Order) -> Order:
    if raw is None or raw == "":
        return default
    if raw not in ("asc", "desc"):
        raise InvalidRequest(
            f"Invalid 'order': expected 'asc' or 'desc', got {raw!r}.",
            param="order",
            code="invalid_value",
        )
    return "asc" if raw == "asc" else "desc"


@dataclass
class Page(Generic[R]):
    """One page of rows (as a repository returns them) and whether more follow."""

    items: list[R]
    has_more: bool

    def to(self, convert: Callable[[R], T]) -> CursorPage[T]:
        """The page as API objects: ``convert`` applied to each row."""
        return CursorPage.of([convert(row) for row in self.items], self.has_more)


class CursorPage(BaseModel, Generic[T]):
    """A list response: ``{"object": "list", "data": [T], "first_id", "last_id",
    "has_more"}`` (the SDK's ``SyncCursorPage`` / ``AsyncCursorPage``)."""

    object: Literal["list"] = "list"
    data: list[T]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False

    @classmethod
    def of(cls, data: Sequence[T], has_more: bool) -> CursorPage[T]:
        """The page of ``data`` (objects with an ``id``), ids of its ends filled in."""
        items = list(data)
        return cls(
            object="list",
            data=items,
            has_more=has_more,
            first_id=getattr(items[0], "id", None) if items else None,
            last_id=getattr(items[-1], "id", None) if items else None,
        )
