"""simonw's ``llm`` CLI with Hearth as an OpenAI-compatible model
(``extra-openai-models.yaml`` in its ``LLM_USER_PATH``), as its docs set one up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.clients.conftest import API_KEY, MODEL

LLM = str(Path(sys.executable).parent / "llm")


@pytest.fixture(scope="module")
def llm_env(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("llm")
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: hearth\n"
        f"  model_name: {MODEL}\n"
        f"  api_base: {base_url}\n"
        f"  api_key_name: hearth\n"
        f"  supports_schema: true\n"
        f"  supports_tools: true\n"
        f"- model_id: hearth-completion\n"
        f"  model_name: {MODEL}\n"
        f"  api_base: {base_url}\n"
        f"  api_key_name: hearth\n"
        f"  completion: true\n"
    )
    (home / "keys.json").write_text(json.dumps({"hearth": API_KEY}))
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    # LLM_LOAD_PLUGINS empty: only llm's own OpenAI support, not whatever else is installed
    return {**env, "LLM_USER_PATH": str(home), "LLM_LOAD_PLUGINS": ""}


def llm(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [LLM, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "no-stream"])
def test_prompt(llm_env: dict[str, str], stream: bool) -> None:
    flags = [] if stream else ["--no-stream"]
    out = llm(llm_env, "-m", "hearth", *flags, "-o", "max_tokens", "16", "Say hello.")
    assert out.strip()
    [logged] = json.loads(llm(llm_env, "logs", "-n", "1", "--json"))
    assert logged["model"] == "hearth" and logged["response"].strip() == out.strip()


def test_completion_model(llm_env: dict[str, str]) -> None:
    # a `completion: true` model: the legacy /v1/completions endpoint, raw prompt
    out = llm(llm_env, "-m", "hearth-completion", "-o", "max_tokens", "8", "Once upon a time")
    assert out.strip()
    [logged] = json.loads(llm(llm_env, "logs", "-n", "1", "--json"))
    assert logged["model"] == "hearth-completion" and logged["response"].strip() == out.strip()


def test_continued_conversation(llm_env: dict[str, str]) -> None:
    llm(llm_env, "-m", "hearth", "-o", "max_tokens", "8", "My name is Ada.")
    second = llm(llm_env, "-c", "-o", "max_tokens", "8", "What is my name?")
    assert second.strip()
    logs = json.loads(llm(llm_env, "logs", "-n", "2", "--json"))
    assert len({entry["conversation_id"] for entry in logs}) == 1


def test_schema_output_follows_the_schema(llm_env: dict[str, str]) -> None:
    out = llm(
        llm_env,
        "-m",
        "hearth",
        "--schema",
        "name, country, population int",
        "-o",
        "max_tokens",
        "100",
        # greedy: a sampled integer can run on in digits until max_tokens cuts the JSON
        "-o",
        "temperature",
        "0",
        "Paris is the capital of France, home to 2,100,000 people. Extract the city.",
    )
    # llm's concise schema syntax: every field required, strings unless typed
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "country": {"type": "string"},
            "population": {"type": "integer"},
        },
        "required": ["name", "country", "population"],
    }
    Draft202012Validator(schema).validate(json.loads(out))
