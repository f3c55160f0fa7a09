"""Schema checks before generation: JSON paths, dropped annotation formats, 400s."""

from __future__ import annotations

import pytest

from hearth.errors import InvalidRequest
from hearth.services.chat.schemas import check_schema, closed, subschemas


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


def test_closed_objects_keep_only_instances_of_the_original() -> None:
    from jsonschema import Draft202012Validator

    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "tags": {"type": "object", "properties": {}, "additionalProperties": True},
            "at": {"type": "object", "patternProperties": {"^x": {}}, "properties": {}},
            "free": {"type": "object"},
        },
        "required": ["city"],
    }
    out = closed(schema)
    assert out["additionalProperties"] is False
    assert out["properties"]["tags"]["additionalProperties"] is True  # said: kept
    assert "additionalProperties" not in out["properties"]["at"]  # patternProperties
    assert "additionalProperties" not in out["properties"]["free"]  # lists no properties
    assert "additionalProperties" not in schema  # the caller's schema is untouched
    ok = {"city": "Rome", "tags": {"k": 1}, "free": {"any": 1}}
    assert Draft202012Validator(out).is_valid(ok) and Draft202012Validator(schema).is_valid(ok)
    assert not Draft202012Validator(out).is_valid({"city": "Rome", "invented": 1})
    # a required key that is not listed, or allOf anywhere: closing would exclude valid
    # answers that are the point of the schema, so it stays as written
    assert closed({"properties": {}, "required": ["x"]}) == {"properties": {}, "required": ["x"]}
    both = {"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]}
    assert closed(both) == both
