"""``metadata``: up to 16 string pairs, keys ≤ 64 characters, values ≤ 512 (OpenAI API
reference: the shared ``Metadata`` object). One rule set for every endpoint that takes it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from hearth.errors import InvalidRequest

MAX_PAIRS = 16
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 512


def metadata_problem(value: Any) -> str | None:
    """Why ``value`` is not valid metadata (``None`` and a dict of short strings are),
    or ``None`` when it is."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"expected an object of string keys and values, but got {_kind(value)}"
    if len(value) > MAX_PAIRS:
        return (
            f"too many properties. Expected an object with at most {MAX_PAIRS} "
            f"properties, but got an object with {len(value)} properties instead"
        )
    for key, item in value.items():
        if len(key) > MAX_KEY_CHARS:
            return (
                f"key {key[:MAX_KEY_CHARS]!r}... is too long. Expected keys of at most "
                f"{MAX_KEY_CHARS} characters, but got one of {len(key)} characters"
            )
        if not isinstance(item, str):
            return f"the value of {key!r} must be a string, but got {_kind(item)}"
        if len(item) > MAX_VALUE_CHARS:
            return (
                f"the value of {key!r} is too long. Expected a string of at most "
                f"{MAX_VALUE_CHARS} characters, but got {len(item)} characters"
            )
        if "\x00" in key or "\x00" in item:  # unstorable in SQLite's JSON functions and jsonb
            return f"the key or value of {key!r} contains a NUL character (\\u0000)"
    return None


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str] | None:
    """``value`` if valid metadata; else ``InvalidRequest`` naming ``param``."""
    problem = metadata_problem(value)
    if problem is not None:
        raise InvalidRequest(f"Invalid '{param}': {problem}.", param=param)
    return value


def _pydantic_check(value: Any) -> Any:
    problem = metadata_problem(value)
    if problem is not None:  # loc stays the field itself, so the 400's param is "metadata"
        raise PydanticCustomError("metadata", problem)
    return value


Metadata = Annotated[dict[str, str] | None, BeforeValidator(_pydantic_check)]
"""A request model field holding metadata; a bad value is a 400 with ``param`` the field."""


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)
