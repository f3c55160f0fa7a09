"""Where an eval's items come from (OpenAI API reference: Evals > ``data_source_config``;
Runs > ``data_source``).

* An eval's ``data_source_config`` fixes the item shape: ``custom`` (``item_schema``, a
  JSON Schema, optionally ``include_sample_schema``) or ``stored_completions`` / ``logs``
  (a ``metadata`` filter). It is returned as ``{"type", "schema": {"type": "object",
  "properties": {"item": ..., "sample"?: ...}, "required": [...]}}``.
* A run's ``source`` gives the rows: ``file_content`` (inline ``[{"item", "sample"?}]``),
  ``file_id`` (a JSONL file, one ``{"item", "sample"?}`` or bare item per line) or
  ``stored_completions`` (filters over the project's stored chat completions).

Every row becomes a ``Row``: the ``item`` graders see as ``{{item.*}}``, and the sample
that came with it (a file row's ``sample``; a stored completion's request and response).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import jsonschema_rs
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from pydantic_core import from_json

from hearth.errors import InvalidRequest, invalid_request
from hearth.services.chat.metadata import Metadata

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, param: str) -> M:
    """``data`` validated strictly as ``model``; the first problem is an ``InvalidRequest``
    whose ``param`` is the field's path under ``param`` (``data_source.source.id``)."""
    try:
        return model.model_validate(data, strict=True)
    except PydanticError as exc:
        raise invalid_request(exc, param) from None


def by_type(models: dict[str, type[Any]], data: Any, param: str) -> Any:
    """``data`` parsed as the model its ``type`` names (``InvalidRequest`` otherwise)."""
    kind = data.get("type") if isinstance(data, dict) else None
    if not isinstance(kind, str) or kind not in models:
        raise InvalidRequest(
            f"Invalid value for '{param}.type': {kind!r}. Supported values are: "
            + ", ".join(f"'{k}'" for k in models)
            + ".",
            param=f"{param}.type",
            code="invalid_value",
        )
    return parse(models[kind], data, param)


# --- the eval's data_source_config ----------------------------------------------------


class CustomConfig(BaseModel):
    """``{"type": "custom", "item_schema", "include_sample_schema"}``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["custom"]
    item_schema: dict[str, Any]
    include_sample_schema: bool = False


class LogsConfig(BaseModel):
    """``{"type": "stored_completions" | "logs", "metadata"}``: the metadata filter runs
    use when their ``stored_completions`` source names none."""

    model_config = ConfigDict(extra="allow")

    type: Literal["stored_completions", "logs"]
    metadata: Metadata = None


SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "output_text": {"type": "string"},
        "output_json": {"type": "object"},
        "output_tools": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["model", "choices"],
}
"""The ``sample`` namespace a generated sample fills (``{{sample.output_text}}`` ...)."""

STORED_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "created_at": {"type": "integer"},
        "model": {"type": "string"},
        "metadata": {"type": "object"},
        "input": {"type": "array", "items": {"type": "object"}},
        "output_text": {"type": "string"},
    },
}
"""An item made from a stored completion (``stored_rows``)."""


def eval_config(raw: Any) -> dict[str, Any]:
    """The ``data_source_config`` an eval stores and returns, from the request's.
    Raises ``InvalidRequest`` (``param`` ``data_source_config...``) for an unknown type or
    an ``item_schema`` that is not a valid JSON Schema."""
    param = "data_source_config"
    config = by_type(
        {"custom": CustomConfig, "stored_completions": LogsConfig, "logs": LogsConfig}, raw, param
    )
    if isinstance(config, CustomConfig):
        check_schema(config.item_schema, f"{param}.item_schema")
        properties = {"item": config.item_schema}
        if config.include_sample_schema:
            properties["sample"] = SAMPLE_SCHEMA
        return {
            "type": "custom",
            "schema": {"type": "object", "properties": properties, "required": list(properties)},
        }
    assert isinstance(config, LogsConfig)
    return {
        "type": config.type,
        "metadata": config.metadata,
        "schema": {
            "type": "object",
            "properties": {"item": STORED_ITEM_SCHEMA, "sample": SAMPLE_SCHEMA},
            "required": ["item", "sample"],
        },
    }


def check_schema(schema: dict[str, Any], param: str) -> None:
    """``InvalidRequest`` unless ``schema`` is a valid JSON Schema (its own metaschema)
    that ``validator`` can compile."""
    validator(schema, param)


def validator(schema: dict[str, Any], param: str) -> jsonschema_rs.Validator:
    """``schema`` compiled by jsonschema-rs: ``pattern`` / ``patternProperties`` run on the
    linear-time ``regex`` engine (no backtracking, so no pattern can stall a run's
    checks; look-around and backreferences are refused), ``$ref`` cycles are followed
    lazily, and only references inside the schema resolve (no network, no files).
    ``InvalidRequest`` naming ``param`` for a schema that is not valid or not supported."""
    try:
        return jsonschema_rs.validator_for(
            schema, pattern_options=jsonschema_rs.RegexOptions(), retriever=_no_retrieval
        )
    except jsonschema_rs.ValidationError as exc:
        raise InvalidRequest(
            f"Invalid '{param}': not a valid JSON Schema: {exc.message} "
            f"(at ${_path(exc.instance_path)}).",
            param=param,
        ) from None


def _no_retrieval(uri: str) -> Any:
    raise ValueError(f"only references inside the schema are supported, not {uri!r}")


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def item_schema(config: dict[str, Any]) -> dict[str, Any]:
    """The eval's schema for one ``item`` (from the stored ``data_source_config``)."""
    return config["schema"]["properties"]["item"]


# --- a run's source --------------------------------------------------------------------


class ContentRow(BaseModel):
    """One row of ``file_content``: ``{"item": {...}, "sample"?: {...}}``."""

    model_config = ConfigDict(extra="allow")

    item: dict[str, Any]
    sample: dict[str, Any] | None = None


class FileContentSource(BaseModel):
    """``{"type": "file_content", "content": [ContentRow]}``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["file_content"]
    content: list[ContentRow]


class FileIdSource(BaseModel):
    """``{"type": "file_id", "id"}``: a JSONL file of purpose ``evals`` or
    ``user_data``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["file_id"]
    id: str


class StoredSource(BaseModel):
    """``{"type": "stored_completions", "metadata", "model", "created_after",
    "created_before", "limit"}`` (every filter optional, times in Unix seconds)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["stored_completions"]
    metadata: Metadata = None
    model: str | None = None
    created_after: int | None = None
    created_before: int | None = None
    limit: int | None = Field(default=None, ge=1)


Source = FileContentSource | FileIdSource | StoredSource
FILE_SOURCES: dict[str, type[Any]] = {"file_content": FileContentSource, "file_id": FileIdSource}
ALL_SOURCES: dict[str, type[Any]] = {**FILE_SOURCES, "stored_completions": StoredSource}
FILE_PURPOSES = ("evals", "user_data")
"""Purposes a ``file_id`` source may have."""


@dataclass
class Row:
    """One data source item: ``item`` (the ``{{item}}`` namespace), the ``sample`` that came
    with a file row, or the ``stored`` completion (``StoredCompletions.select``'s dict) it
    was made from; ``where`` names it in messages, ``param`` in errors."""

    item: dict[str, Any]
    sample: dict[str, Any] | None = None
    stored: dict[str, Any] | None = None
    where: str = ""
    param: str | None = None


def content_rows(source: FileContentSource, param: str) -> list[Row]:
    """The rows of inline ``file_content``."""
    return [
        Row(r.item, r.sample, where=f"index {i}", param=f"{param}.content[{i}].item")
        for i, r in enumerate(source.content)
    ]


def file_rows(data: bytes, file_id: str, param: str) -> list[Row]:
    """The rows of a JSONL file: each non-blank line an object, ``{"item", "sample"?}``
    or a bare item. Raises ``InvalidRequest`` naming the line (``param``: the file id's)."""
    rows = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(
            f"File {file_id} is not UTF-8 text.", param=param, code="invalid_file"
        ) from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:  # pydantic-core's parser: NaN refused, nesting capped (no RecursionError)
            row = from_json(line, allow_inf_nan=False)
        except ValueError as exc:
            raise InvalidRequest(
                f"Line {number} of file {file_id} is not valid JSON: {exc}.",
                param=param,
                code="invalid_file",
            ) from None
        where = f"line {number} of file {file_id}"  # 1-based, as editors count
        if not isinstance(row, dict):
            raise InvalidRequest(
                f"Line {number} of file {file_id} is not a JSON object.",
                param=param,
                code="invalid_file",
            )
        if isinstance(row.get("item"), dict):
            sample = row.get("sample")
            rows.append(
                Row(
                    row["item"],
                    sample if isinstance(sample, dict) else None,
                    where=where,
                    param=param,
                )
            )
        else:
            rows.append(Row(row, where=where, param=param))
    return rows


def stored_rows(records: list[dict[str, Any]]) -> list[Row]:
    """Rows from stored completions: ``item`` is ``{"id", "created_at", "model",
    "metadata", "input": the request's messages, "output_text": the stored answer}``
    (plus the request's ``tools`` / ``response_format`` when it had them)."""
    rows = []
    for record in records:
        request, response = record["request"], record["response"]
        choices = response.get("choices") or [{}]
        item = {
            "id": record["id"],
            "created_at": record["created_at"],
            "model": record["model"],
            "metadata": record["metadata"],
            "input": request.get("messages", []),
            "output_text": (choices[0].get("message") or {}).get("content") or "",
        }
        for key in ("tools", "response_format"):
            if request.get(key) is not None:
                item[key] = request[key]
        rows.append(Row(item, stored=record, where=f"stored completion {record['id']}"))
    return rows


def check_items(rows: list[Row], schema: dict[str, Any]) -> None:
    """``InvalidRequest`` (the row's ``param``) for the first row whose item does not
    match the eval's item ``schema``, naming the row and the failing JSON path. CPU work
    in a native library: run it off the event loop."""
    compiled = validator(schema, "data_source_config.item_schema")
    for row in rows:
        error = next(iter(compiled.iter_errors(row.item)), None)
        if error is not None:
            raise InvalidRequest(
                f"The item at {row.where} does not match the eval's "
                f"item_schema: {error.message} (at $item{_path(error.instance_path)}).",
                param=row.param,
                code="invalid_item",
            )
