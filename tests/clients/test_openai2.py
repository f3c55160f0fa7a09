"""Clients that pin ``openai<3`` (instructor, LlamaIndex), each in the virtualenv the
Makefile makes for them (``.venv-clients``, from tests/clients/openai2/requirements.txt):
their scripts drive the server and report outcomes; the checks are here."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.clients.conftest import API_KEY, MODEL

HERE = Path(__file__).parent / "openai2"
PYTHON = Path(__file__).parents[2] / ".venv-clients" / "bin" / "python"


@cache
def _report(script: str, base_url: str) -> dict[str, Any]:
    assert PYTHON.exists(), f"{PYTHON} is missing: `make install-test` makes it"
    env = {
        **os.environ,
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": API_KEY,
        "HEARTH_MODEL": MODEL,
    }
    done = subprocess.run(
        [str(PYTHON), str(HERE / script)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def outcome(script: str, scenario: str, base_url: str) -> Any:
    result = _report(script, base_url)[scenario]
    assert not (isinstance(result, dict) and "error" in result), result.get("traceback")
    return result


@pytest.mark.parametrize("mode", ["TOOLS", "TOOLS_STRICT", "JSON_SCHEMA"])
def test_instructor_schema_modes_return_an_instance(mode: str, base_url: str) -> None:
    # the schema travels as tool parameters or a json_schema response format, strict or
    # not: the instance instructor validated must also satisfy the schema as sent
    got = outcome("instructor_modes.py", mode, base_url)
    Draft202012Validator(got["schema"]).validate(got["instance"])
    assert set(got["instance"]) == {"name", "country", "population"}


@pytest.mark.parametrize("mode", ["JSON", "MD_JSON"])
def test_instructor_prompt_modes_parse_the_json_answer(mode: str, base_url: str) -> None:
    # JSON sends response_format json_object; MD_JSON asks for a ```json block in text
    got = outcome("instructor_modes.py", mode, base_url)
    assert isinstance(got["instance"], dict) and got["instance"]


@pytest.mark.parametrize("scenario", ["complete", "complete_raw", "chat", "achat"])
def test_llamaindex_openailike_answers(scenario: str, base_url: str) -> None:
    got = outcome("llamaindex_openailike.py", scenario, base_url)
    assert isinstance(got["text"], str) and got["text"]
    assert got["usage"]["prompt_tokens"] > 0 and 0 < got["usage"]["completion_tokens"] <= 16
    if "role" in got:
        assert got["role"] == "assistant"


@pytest.mark.parametrize("scenario", ["stream_chat", "stream_complete", "stream_complete_raw"])
def test_llamaindex_openailike_streams(scenario: str, base_url: str) -> None:
    got = outcome("llamaindex_openailike.py", scenario, base_url)
    assert len([d for d in got["deltas"] if d]) > 1
    assert "".join(got["deltas"]) == got["text"] and got["text"]
