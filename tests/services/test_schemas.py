"""Schema checks before generation: JSON paths, dropped annotation formats, 400s."""

from __future__ import annotations

import pytest

from hearth.errors import InvalidRequest
from hearth.services.chat.schemas import check_schema, subschemas


def test_subschemas_walks_every_place_a_schema_can_be() -> None:
    schema = {
        "properties": {"a b": {"items": {"type": "string"}}},
        "$defs": {"n": {"anyOf": [{"type": "null"}, {"not": {}}]}},
        "prefixItems": [{"type": "integer"}],
    }
    paths = [p for p, _ in subschemas(schema)]
    assert paths == [
        "$",
        "$.prefixItems[0]",
        '$.properties["a b"]',
        '$.properties["a b"].items',
        "$.$defs.n",
        "$.$defs.n.anyOf[0]",
        "$.$defs.n.anyOf[1]",
        "$.$defs.n.anyOf[1].not",
    ]


def test_unknown_formats_are_dropped_standard_ones_kept() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "format": "url"},
            "b": {"type": "string", "format": "email"},
        },
    }
    ready = check_schema(schema, "x", "p")
    assert "format" not in ready["properties"]["a"]
    assert ready["properties"]["b"]["format"] == "email"
    assert schema["properties"]["a"]["format"] == "url"  # the caller's copy is untouched


def test_invalid_schema_names_the_path() -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_schema(
            {"properties": {"a": {"minLength": -1}}}, "response_format 'x'", "response_format"
        )
    assert caught.value.param == "response_format"
    assert "$.properties.a.minLength" in caught.value.message


def test_schema_must_be_an_object() -> None:
    with pytest.raises(InvalidRequest):
        check_schema(["type", "string"], "x", "p")
