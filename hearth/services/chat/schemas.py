"""JSON Schemas for Structured Outputs: checked and compiled before generation starts.

A schema OpenAI accepts in strict mode always compiles; Hearth also enforces much of
the rest of JSON Schema (see docs/structured-outputs.md). Anything it cannot enforce is
a 400 naming the keyword and its JSON path, never silently unenforced. Formats outside
the JSON Schema vocabulary are annotations (JSON Schema 2020-12 §7.2) and are dropped;
standard formats Hearth cannot enforce are rejected.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Iterator
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for

from hearth.engine.constraints import JSON_OPTIONS, CompilesGrammars, GrammarError
from hearth.errors import InvalidRequest

STANDARD_FORMATS = frozenset(
    (
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    )
)
MAX_SUBSCHEMAS = 10_000
"""More is refused before any work: checking a schema costs ~0.2 ms per subschema (the
largest AWS CloudFormation resource schemas, 280 KB, have ~3,000)."""
# keywords whose value is a subschema / a list of them / a name -> subschema map
_ONE = (
    "additionalProperties",
    "items",
    "additionalItems",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_KEYWORD_HINTS = {
    "oneOf": "oneOf",
    "min/maxProperties": "minProperties",
    "circular references": "$ref",
    "Unknown format": "format",
}


def subschemas(schema: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (JSON path, subschema) in ``schema``, depth first, root first."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in _ONE:
        if isinstance(schema.get(key), dict):
            yield from subschemas(schema[key], f"{path}.{key}")
    for key in _LIST:
        if isinstance(schema.get(key), list):
            for i, sub in enumerate(schema[key]):
                yield from subschemas(sub, f"{path}.{key}[{i}]")
    for key in _MAP:
        if isinstance(schema.get(key), dict):
            for name, sub in schema[key].items():
                yield from subschemas(sub, f"{path}.{key}{_member(name)}")


def _member(name: str) -> str:
    """``.name``, or ``["a b"]`` for names that are not identifiers."""
    return f".{name}" if re.fullmatch(r"[A-Za-z_$][\w$-]*", name) else json.dumps([name])


def _locate(schema: dict[str, Any], keyword: str) -> str:
    for path, sub in subschemas(schema):
        if keyword in sub:
            return f"{path}.{keyword}"
    return "$"


def _keywords_in(message: str) -> list[str]:
    listed = re.search(r"Unimplemented keys: (\[.*?\])", message)
    if listed:
        return [str(k) for k in json.loads(listed.group(1))]
    return [kw for hint, kw in _KEYWORD_HINTS.items() if hint in message]


def _drop_unknown_formats(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    for _, sub in subschemas(out):
        if isinstance(sub.get("format"), str) and sub["format"] not in STANDARD_FORMATS:
            del sub["format"]
    return out


def check_schema(schema: Any, where: str, param: str) -> dict[str, Any]:
    """``schema`` made ready to compile; raises ``InvalidRequest`` (400, ``param``) if it
    is not a valid JSON Schema or has more than ``MAX_SUBSCHEMAS`` subschemas. ``where``
    names it in messages (``response_format 'x'``)."""
    if not isinstance(schema, dict):
        raise InvalidRequest(
            f"Invalid schema for {where}: the schema must be a JSON object.", param=param
        )
    count = sum(1 for _ in zip(subschemas(schema), range(MAX_SUBSCHEMAS + 1), strict=False))
    if count > MAX_SUBSCHEMAS:
        raise InvalidRequest(
            f"Invalid schema for {where}: schema too complex (more than "
            f"{MAX_SUBSCHEMAS:,} subschemas).",
            param=param,
            code="invalid_json_schema",
        )
    try:
        with warnings.catch_warnings():  # re's FutureWarning ("possible nested set")
            warnings.simplefilter("ignore", FutureWarning)
            validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        at = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
        raise InvalidRequest(
            f"Invalid schema for {where}: {exc.message} (at $.{at[1:]})", param=param
        ) from None
    return _drop_unknown_formats(schema)


_OPEN_ENDED = ("additionalProperties", "patternProperties", "unevaluatedProperties")


def closed(schema: Any) -> Any:
    """``schema`` with every object that lists ``properties`` and says nothing about
    other keys closed to them (``additionalProperties: false``), as xgrammar's strict
    mode does for vLLM. Every instance of the result is an instance of ``schema``; left
    open, a small model invents keys until its token budget runs out. Schemas with
    ``allOf`` (whose branches would then contradict each other), objects whose
    ``required`` names an unlisted key, and anything not a JSON object come back as is."""
    if not isinstance(schema, dict) or any("allOf" in sub for _, sub in subschemas(schema)):
        return schema
    out = copy.deepcopy(schema)
    for _, sub in subschemas(out):
        props, required = sub.get("properties"), sub.get("required", [])
        if (
            isinstance(props, dict)
            and not any(k in sub for k in _OPEN_ENDED)
            and isinstance(required, list)
            and all(isinstance(k, str) and k in props for k in required)
        ):
            sub["additionalProperties"] = False
    return out


def enforceable(
    compiler: CompilesGrammars,
    schema: Any,
    where: str,
    param: str,
) -> dict[str, Any]:
    """``schema`` ready to enforce, its grammar compiled (and cached); raises
    ``InvalidRequest`` naming the first keyword Hearth cannot enforce and its JSON path
    (e.g. ``$.properties.tags.not``)."""
    ready = check_schema(schema, where, param)
    try:
        compiler.compile_grammar(json_schema=ready)
    except GrammarError as exc:
        raise unsupported(ready, str(exc), where, param) from None
    return ready


def unsupported(
    schema: dict[str, Any],
    detail: str,
    where: str,
    param: str,
) -> InvalidRequest:
    """The 400 for a schema llguidance rejected with ``detail``."""
    keywords = _keywords_in(detail)
    if keywords:
        keyword = keywords[0]
        return InvalidRequest(
            f"Invalid schema for {where}: '{keyword}' at {_locate(schema, keyword)} is not "
            f"supported in strict mode ({detail}).",
            param=param,
            code="invalid_json_schema",
        )
    return InvalidRequest(
        f"Invalid schema for {where}: {detail}", param=param, code="invalid_json_schema"
    )


def lark_json(schema: dict[str, Any]) -> str:
    """``schema`` as an llguidance Lark ``%json`` body, with Hearth's JSON layout."""
    return json.dumps({**schema, "x-guidance": JSON_OPTIONS}, ensure_ascii=False)
