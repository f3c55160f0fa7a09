"""The official Node SDK (``openai`` on npm, with ``zod``) against the server: one run of
each script in tests/clients/node (clients.mjs; responses.mjs, the Responses and
Conversations resources; their packages installed by ``npm ci`` from the Makefile)
reports each scenario; each is one test here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import API_KEY, MODEL

HERE = Path(__file__).parent / "node"
SCENARIOS = [
    "models_list",
    "chat_create",
    "chat_stream",
    "chat_stream_helper",
    "parse_zod_response_format",
    "parse_zod_function_tool",
    "tools_required",
    "run_tools",
    "audio_speech_then_transcription",
    "files_lifecycle",
    "legacy_completions",
    "embeddings",
    "vector_store_upload_and_search",
    "errors_are_typed",
]
RESPONSES_SCENARIOS = [
    "responses_create",
    "responses_stream",
    "responses_parse_zod_text_format",
    "function_call_round_trip",
    "conversation_items",
    "retrieve_and_delete",
]
SCRIPTS = {"clients.mjs": SCENARIOS, "responses.mjs": RESPONSES_SCENARIOS}


@cache
def _report(base_url: str, script: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is not installed"
    assert (HERE / "node_modules" / "openai").is_dir(), "`make install-test` runs npm ci"
    env = {
        **os.environ,
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": API_KEY,
        "HEARTH_MODEL": MODEL,
    }
    done = subprocess.run(
        [node, script], cwd=HERE, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_node_sdk(scenario: str, base_url: str) -> None:
    result = _report(base_url, "clients.mjs")[scenario]
    assert result == {"ok": True}, result.get("error")


@pytest.mark.parametrize("scenario", RESPONSES_SCENARIOS)
def test_node_sdk_responses(scenario: str, base_url: str) -> None:
    result = _report(base_url, "responses.mjs")[scenario]
    assert result == {"ok": True}, result.get("error")


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_node_scenario_is_a_test(script: str, base_url: str) -> None:
    assert sorted(_report(base_url, script)) == sorted(SCRIPTS[script])
