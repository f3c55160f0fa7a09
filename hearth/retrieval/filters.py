"""Attribute filters of file search (OpenAI's ``ComparisonFilter`` and ``CompoundFilter``),
as request models and their evaluation against a file's ``attributes``.

Comparison types: ``eq``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte``, ``in``, ``nin``;
compound: ``and`` / ``or`` over nested filters. Numbers compare with numbers and strings
with strings (ISO dates order correctly as strings); a missing key or a value of another
type matches only ``ne`` and ``nin``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Scalar = StrictStr | StrictBool | StrictInt | StrictFloat


class ComparisonFilter(BaseModel):
    """``{"key", "type", "value"}``; ``in`` / ``nin`` take a list."""

    model_config = ConfigDict(extra="forbid")

    key: StrictStr
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    value: Scalar | list[StrictStr | StrictInt | StrictFloat]


class CompoundFilter(BaseModel):
    """``{"type": "and" | "or", "filters": [...]}``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["and", "or"]
    filters: list[ComparisonFilter | CompoundFilter] = Field(min_length=1)


Filter = ComparisonFilter | CompoundFilter


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    number = (int, float)
    return (isinstance(a, number) and isinstance(b, number)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def matches(flt: Filter, attributes: dict[str, Any] | None) -> bool:
    """Whether a file with ``attributes`` passes ``flt``."""
    if isinstance(flt, CompoundFilter):
        results = (matches(f, attributes) for f in flt.filters)
        return all(results) if flt.type == "and" else any(results)
    attrs = attributes or {}
    present = flt.key in attrs
    actual = attrs.get(flt.key)
    if flt.type in ("in", "nin"):
        values = flt.value if isinstance(flt.value, list) else [flt.value]
        inside = present and any(_same_kind(actual, v) and actual == v for v in values)
        return inside if flt.type == "in" else not inside
    comparable = present and _same_kind(actual, flt.value)
    if flt.type == "eq":
        return comparable and actual == flt.value
    if flt.type == "ne":
        return not (comparable and actual == flt.value)
    if not comparable or isinstance(actual, bool):
        return False
    a: Any = actual
    b: Any = flt.value
    return bool({"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[flt.type])
