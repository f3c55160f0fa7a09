"""Structured Outputs and JSON mode through the SDK, in-process, on the real bundled model.

Every guarantee here comes from the token masks: the 135M model alone would not keep to
a schema.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from hearth.engine import constraints
from hearth.services.container import Services
from tests.conftest import MODEL

pytestmark = pytest.mark.anyio


def validate(instance: Any, schema: dict[str, Any]) -> None:
    cls = jsonschema.validators.validator_for(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(instance)


def schema_format(schema: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


async def ask(
    client: openai.AsyncOpenAI,
    content: str,
    response_format: dict[str, Any],
    max_tokens: int = 160,
    **extra: Any,
) -> Any:
    return await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": content}],
        response_format=response_format,  # type: ignore[arg-type]
        max_tokens=max_tokens,
        temperature=0,
        **extra,
    )


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Z][a-z]+$"},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "email": {"type": ["string", "null"], "format": "email"},
        "role": {"enum": ["admin", "user", "guest"]},
        "kind": {"const": "person"},
        "born": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"},
        "address": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 20},
                "zip": {"anyOf": [{"type": "string", "pattern": "^[0-9]{5}$"}, {"type": "null"}]},
            },
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
        "tags": {
            "type": "array",
            "items": {"type": "string", "maxLength": 12},
            "minItems": 1,
            "maxItems": 3,
        },
    },
    "required": ["name", "age", "email", "role", "kind", "born", "id", "address", "tags"],
    "additionalProperties": False,
}

UI = {  # OpenAI's recursive example: a UI tree whose children are UI trees
    "$defs": {
        "ui": {
            "type": "object",
            "properties": {
                "type": {"enum": ["div", "button", "header", "section", "field", "form"]},
                "label": {"type": "string", "maxLength": 16},
                "children": {"type": "array", "items": {"$ref": "#/$defs/ui"}, "maxItems": 2},
            },
            "required": ["type", "label", "children"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/ui",
}


async def test_json_mode_is_one_json_object(client: openai.AsyncOpenAI) -> None:
    out = await ask(
        client, "Describe a cat as a JSON object with a name and an age.", {"type": "json_object"}
    )
    choice = out.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    assert isinstance(json.loads(choice.message.content), dict)
    assert choice.message.refusal is None


async def test_json_mode_needs_the_word_json(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, "Describe a cat.", {"type": "json_object"})
    assert caught.value.status_code == 400 and caught.value.param == "messages"
    assert "json" in caught.value.message


async def test_strict_schema_output_validates(client: openai.AsyncOpenAI) -> None:
    out = await ask(client, "Make up a user of a website.", schema_format(PERSON), max_tokens=220)
    choice = out.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    validate(json.loads(choice.message.content), PERSON)


async def test_recursive_schema_output_validates(client: openai.AsyncOpenAI) -> None:
    leaf = "4389"  # ' []' in SmolLM2's vocabulary: nudges the tiny model to end a branch
    out = await ask(
        client,
        "Design a login form.",
        schema_format(UI, "ui"),
        max_tokens=300,
        logit_bias={leaf: 2},
    )
    choice = out.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    tree = json.loads(choice.message.content)
    validate(tree, UI)
    assert tree["children"] and "children" in tree["children"][0], tree  # a tree in a tree


async def test_keys_come_in_schema_order(client: openai.AsyncOpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string", "maxLength": 60},
            "answer": {"type": "integer"},
        },
        "required": ["reasoning", "answer"],
        "additionalProperties": False,
    }
    out = await ask(client, "What is 2 + 3?", schema_format(schema))
    content = out.choices[0].message.content
    assert content.startswith('{"reasoning": "'), content
    assert list(json.loads(content)) == ["reasoning", "answer"]


async def test_stream_equals_non_stream(client: openai.AsyncOpenAI) -> None:
    fmt = schema_format(PERSON)
    whole = await ask(client, "Make up a user of a website.", fmt, max_tokens=220)
    stream = await ask(client, "Make up a user of a website.", fmt, max_tokens=220, stream=True)
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == whole.choices[0].message.content


class CalendarEvent(BaseModel):  # the Structured Outputs guide's example
    name: str = Field(max_length=40)
    date: str = Field(max_length=20)
    participants: list[str] = Field(max_length=3)


async def test_sdk_parse_with_pydantic(client: openai.AsyncOpenAI) -> None:
    out = await client.chat.completions.parse(
        model=MODEL,
        response_format=CalendarEvent,
        max_tokens=200,
        temperature=0,
        messages=[
            {"role": "system", "content": "Extract the event information."},
            {"role": "user", "content": "Alice and Bob are going to a science fair on Friday."},
        ],
    )
    parsed = out.choices[0].message.parsed
    assert isinstance(parsed, CalendarEvent) and parsed.participants
    assert out.choices[0].message.refusal is None


async def test_length_says_the_json_is_incomplete(client: openai.AsyncOpenAI) -> None:
    out = await ask(client, "Make up a user of a website.", schema_format(PERSON), max_tokens=6)
    choice = out.choices[0]
    assert choice.finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content)
    with pytest.raises(openai.LengthFinishReasonError):
        await client.chat.completions.parse(
            model=MODEL,
            response_format=CalendarEvent,
            max_tokens=6,
            messages=[{"role": "user", "content": "Alice meets Bob on Friday."}],
        )


async def test_whitespace_cannot_loop(client: openai.AsyncOpenAI) -> None:
    newline = "198"  # "\n" in SmolLM2's vocabulary: pushed as hard as the API allows
    out = await ask(
        client,
        "Give me a JSON object.",
        {"type": "json_object"},
        max_tokens=40,
        logit_bias={newline: 100},
    )
    assert "\n" not in out.choices[0].message.content


@pytest.mark.parametrize(
    ("schema", "keyword", "path"),
    [
        (
            {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"not": {"type": "string"}}}},
            },
            "not",
            "$.properties.tags.items.not",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True}}},
            "uniqueItems",
            "$.properties.a.uniqueItems",
        ),
        ({"type": "string", "format": "iri-reference"}, "format", "$.format"),
    ],
)
async def test_unenforceable_schema_is_a_400_naming_keyword_and_path(
    client: openai.AsyncOpenAI, schema: dict[str, Any], keyword: str, path: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, "Hi", schema_format(schema))
    assert caught.value.param == "response_format"
    assert f"'{keyword}'" in caught.value.message and path in caught.value.message


async def test_invalid_schema_is_a_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(
            client, "Hi", schema_format({"type": "object", "properties": {"a": {"type": "strin"}}})
        )
    assert caught.value.param == "response_format"
    assert "$.properties.a.type" in caught.value.message


async def test_bad_schema_name_is_a_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, "Hi", schema_format({"type": "object"}, name="has space"))
    assert caught.value.param == "response_format.json_schema.name"


def loose_format(schema: dict[str, Any], name: str = "loose") -> dict[str, Any]:
    """A ``json_schema`` response format without ``strict`` (instructor, ``llm --schema``)."""
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


# What strict mode refuses: an optional property ("note"), integer bounds without strict.
LOOSE = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 40},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2030},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
        "note": {"type": "string", "maxLength": 20},
    },
    "required": ["title", "year", "tags"],
    "additionalProperties": False,
}


async def test_non_strict_schema_is_enforced(client: openai.AsyncOpenAI) -> None:
    # the prompt asks for something else: only the masks can make this match the schema
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Write a haiku about the sea."}],
        response_format=loose_format(LOOSE),  # type: ignore[arg-type]
        max_tokens=120,
        temperature=0,
    )
    assert "x-hearth-schema-enforced" not in raw.headers
    out = raw.parse()
    assert out.choices[0].finish_reason == "stop", out.choices[0].message.content
    validate(json.loads(out.choices[0].message.content or ""), LOOSE)


async def test_non_strict_schema_is_enforced_when_streamed(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me a joke."}],
        response_format=loose_format(LOOSE),  # type: ignore[arg-type]
        max_tokens=120,
        seed=3,
        stream=True,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    validate(json.loads(text), LOOSE)


async def test_unenforceable_non_strict_schema_is_a_flagged_hint(
    client: openai.AsyncOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hearth.services.chat.structured")
    schema = {"type": "object", "properties": {"a": {"not": {"type": "string"}}}}
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi, answer in JSON."}],
        response_format=loose_format(schema),  # type: ignore[arg-type]
        max_tokens=30,
    )
    assert raw.headers["x-hearth-schema-enforced"] == "false"
    assert "not" in raw.headers["x-hearth-schema-not-enforced-reason"]
    assert any("schema not enforced" in r.getMessage() for r in caplog.records)
    assert raw.parse().choices[0].message.content is not None
    # the same schema with strict: true is refused
    with pytest.raises(openai.BadRequestError):
        await ask(client, "Hi, answer in JSON.", schema_format(schema), max_tokens=30)


async def test_enforcement_off_keeps_openai_hint_semantics(
    client: openai.AsyncOpenAI, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services.chat, "enforce_schemas", False)
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Write a haiku about the sea."}],
        response_format=loose_format(LOOSE),  # type: ignore[arg-type]
        max_tokens=60,
        temperature=0,
    )
    assert raw.headers["x-hearth-schema-enforced"] == "false"
    assert "off" in raw.headers["x-hearth-schema-not-enforced-reason"]
    # still JSON (as OpenAI's non-strict json_schema), no longer held to the schema
    out = raw.parse()
    if out.choices[0].finish_reason == "stop":
        json.loads(out.choices[0].message.content or "")
    # strict schemas are enforced whatever the setting
    strict = await ask(client, "Hi", schema_format(PERSON), max_tokens=200)
    validate(json.loads(strict.choices[0].message.content or ""), PERSON)


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
        {
            "type": "object",
            "properties": {"child": {"$ref": "#"}},
            "required": ["child"],
            "additionalProperties": False,
        },
    ],
    ids=["self", "cycle", "required-recursion"],
)
async def test_self_referencing_schema_is_a_400_or_a_flagged_hint(
    client: openai.AsyncOpenAI, schema: dict[str, Any], strict: bool
) -> None:
    fmt = schema_format(schema) if strict else loose_format(schema)
    if strict:
        with pytest.raises(openai.BadRequestError) as caught:
            await ask(client, "Hi", fmt, max_tokens=8)
        assert caught.value.param == "response_format"
        assert "panicked" not in caught.value.message
        return
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hi"}],
        response_format=fmt,  # type: ignore[arg-type]
        max_tokens=8,
    )
    assert raw.headers["x-hearth-schema-enforced"] == "false"


async def test_pathological_schema_is_a_quick_400(client: openai.AsyncOpenAI) -> None:
    # 30,000 subschemas: refused before any work, never checked or compiled for minutes
    schema = {
        "type": "object",
        "properties": {
            f"p{i}": {"type": "integer", "minimum": i, "maximum": i + 1000} for i in range(30_000)
        },
    }
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, "Hi", schema_format(schema), max_tokens=8)
    assert "too complex" in caught.value.message
    assert caught.value.code == "invalid_json_schema"


async def test_grammar_limit_is_a_clear_error_not_broken_json(client: openai.AsyncOpenAI) -> None:
    # MaskBench Github_easy---o21053: this pattern under maxLength exhausts llguidance's
    # lexer mid-string. It must fail loudly every time, never end "stop" on cut JSON.
    words = {
        "type": "string",
        "minLength": 1,
        "maxLength": 5000,
        "pattern": "^$|(^(?:\\S+\\s+){0,99}\\S+$)",
    }
    schema = {
        "type": "object",
        "properties": {"question": words, "answer": words},
        "required": ["question", "answer"],
        "additionalProperties": False,
    }
    for _ in range(2):  # the second request gets a freshly compiled grammar
        with pytest.raises(openai.InternalServerError) as caught:
            await ask(client, "Ask and answer a question.", schema_format(schema))
        assert "Constrained decoding stopped" in caught.value.message
        assert "fuel" not in caught.value.message and "expressions" not in caught.value.message


async def test_slow_compile_is_given_up_with_a_400(
    client: openai.AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ~0.3 s to compile: with no time allowed it must be refused, and remembered as such
    schema = {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    f"k{j}": {"type": "integer", "minimum": j, "maximum": j * 7 + i}
                    for j in range(60)
                },
                "required": [f"k{j}" for j in range(60)],
            }
            for i in range(40)
        ]
    }
    monkeypatch.setattr(constraints, "COMPILE_SECONDS", 0.0)
    for _ in range(2):
        with pytest.raises(openai.BadRequestError) as caught:
            await ask(client, "Hi", schema_format(schema), max_tokens=8)
        assert "too complex" in caught.value.message
