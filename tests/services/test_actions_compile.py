"""OpenAPI operations as the functions a GPT's model sees (``actions.compile_action``):
parameters and JSON bodies flattened into one schema, component refs kept as ``$defs``,
and the documents refused with the field to fix."""

from __future__ import annotations

from typing import Any

import pytest

from hearth.errors import InvalidRequest
from hearth.services.assistants.actions import compile_action, load_spec


def doc(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shop", "version": "1"},
        "servers": [{"url": "https://shop.example.com/api/"}],
        "paths": paths,
        **extra,
    }


OK = {"200": {"description": "ok"}}


def test_parameters_and_body_become_one_flat_schema() -> None:
    spec = doc(
        {
            "/orders/{order_id}": {
                "parameters": [
                    {
                        "name": "order_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                ],
                "put": {
                    "operationId": "updateOrder",
                    "summary": "Update an order.",
                    "parameters": [
                        {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Order"}}
                        }
                    },
                    "responses": OK,
                },
            }
        },
        components={
            "schemas": {
                "Order": {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                        "note": {"type": "string", "example": "leave at the door"},
                    },
                    "required": ["items"],
                },
                "Item": {"type": "object", "properties": {"sku": {"type": "string"}}},
            }
        },
    )
    url, operations = compile_action(spec, "actions[0].openapi")
    assert url == "https://shop.example.com/api"
    op = operations["updateOrder"]
    assert (op.method, op.path, op.in_path, op.in_query, op.in_header) == (
        "PUT",
        "/orders/{order_id}",
        ("order_id",),
        ("dry_run",),
        ("X-Trace",),
    )
    assert op.body and op.body_arg is None
    fn = op.tool["function"]
    assert fn["name"] == "updateOrder" and fn["description"] == "Update an order."
    params = fn["parameters"]
    assert list(params["properties"]) == ["order_id", "dry_run", "X-Trace", "items", "note"]
    assert params["required"] == ["order_id", "items"]
    assert params["additionalProperties"] is False  # the model may not invent arguments
    assert params["properties"]["items"]["items"] == {"$ref": "#/$defs/Item"}
    assert "example" not in params["properties"]["note"]
    assert set(params["$defs"]) == {"Order", "Item"}


def test_a_body_that_is_not_an_object_is_one_argument() -> None:
    spec = doc(
        {
            "/tags": {
                "post": {
                    "operationId": "setTags",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"type": "string"}}
                            }
                        },
                    },
                    "responses": OK,
                }
            }
        }
    )
    _, operations = compile_action(spec, "p")
    op = operations["setTags"]
    assert op.body_arg == "body" and not op.body
    assert op.tool["function"]["parameters"]["required"] == ["body"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        (lambda d: d.update(openapi="2.0"), "p.openapi"),
        (lambda d: d.pop("info"), "p"),
        (lambda d: d.update(servers=[{"url": "/relative"}]), "p.servers"),
        (lambda d: d["paths"]["/a"]["get"].pop("operationId"), "p.paths./a.get.operationId"),
        (
            lambda d: d["paths"]["/a"]["get"].update(operationId="has space"),
            "p.paths./a.get.operationId",
        ),
        (
            lambda d: d["paths"]["/b"]["get"].update(operationId="getA"),
            "p",  # the validator finds the repeat
        ),
        (
            lambda d: d["paths"]["/a"]["get"].update(
                parameters=[{"$ref": "https://evil.example.com/p.json"}]
            ),
            "p",  # refused before anything is fetched
        ),
        (
            lambda d: d["paths"]["/a"]["get"].update(
                requestBody={"content": {"text/plain": {"schema": {"type": "string"}}}}
            ),
            "p.paths./a.get.requestBody.content",
        ),
        (lambda d: d.update(paths={}), "p.paths"),
    ],
)
def test_documents_refused_name_the_field(change: Any, param: str) -> None:
    spec = doc(
        {
            "/a": {"get": {"operationId": "getA", "responses": OK}},
            "/b": {"get": {"operationId": "getB", "responses": OK}},
        }
    )
    change(spec)
    with pytest.raises(InvalidRequest) as info:
        compile_action(spec, "p")
    assert info.value.param == param


def test_specs_as_text() -> None:
    assert load_spec('{"openapi": "3.1.0"}', "p") == {"openapi": "3.1.0"}
    assert load_spec("openapi: 3.1.0\ninfo: {title: x}\n", "p")["info"] == {"title": "x"}
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    for bad in ("- a list", "openapi: [unclosed", "x" * 1_000_001, laughs):
        with pytest.raises(InvalidRequest):
            load_spec(bad, "p")
