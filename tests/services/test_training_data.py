"""Training files: validation messages and the tokens training will see (real tokenizer)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hearth.errors import InvalidRequest
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.chat.prepare import generation_request
from hearth.services.container import Services
from hearth.services.fine_tuning.params import JobParams, resolve_method
from hearth.services.fine_tuning.training_data import Tokenizer, parse
from tests.conftest import MODEL

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def _lines(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture(scope="module")
def tokenizer(services: Services) -> Tokenizer:
    runner = services.registry.get(MODEL).runner
    return Tokenizer(runner, runner.context_length)


def test_prompt_tokens_match_what_serving_renders(services: Services, tokenizer: Tokenizer) -> None:
    served = services.registry.get(MODEL)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
    ]
    data = parse(
        _lines([{"messages": messages, "tools": [TOOL]}]),
        "supervised",
        tokenizer,
        param="training_file",
        vision=False,
        min_examples=1,
    )
    row = data.lines[0]
    assert len(row["input_ids"]) == len(row["loss_mask"]) == data.tokens
    # the prompt before the last answer is exactly the one serving builds for that turn
    request, _ = generation_request(
        ChatCompletionParams.model_validate(
            {"model": MODEL, "messages": messages[:-1], "tools": [TOOL]}
        ),
        served,
    )
    prompt = request.prompt
    assert row["input_ids"][: len(prompt)] == prompt
    tail = served.runner.tokenize("It is sunny.", special=False) + served.runner.tokenize(
        served.runner.info.eos_token, special=True
    )
    assert row["input_ids"][len(prompt) :] == tail
    assert row["loss_mask"][len(prompt) :] == [1] * len(tail)
    # both assistant turns train; nothing else does
    call = served.runner.tokenize("<tool_call>", special=False)
    trained = [t for t, m in zip(row["input_ids"], row["loss_mask"], strict=True) if m]
    assert trained[: len(call)] == call
    assert sum(row["loss_mask"]) < len(row["input_ids"]) // 2


def test_weight_zero_turns_are_not_trained(tokenizer: Tokenizer) -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b", "weight": 0},
                {"role": "user", "content": "c"},
                {"role": "assistant", "content": "d"},
            ]
        }
    ]
    row = parse(
        _lines(rows), "supervised", tokenizer, param="training_file", vision=False, min_examples=1
    ).lines[0]
    trained = [t for t, m in zip(row["input_ids"], row["loss_mask"], strict=True) if m]
    assert len(trained) == 2  # "d" and the end-of-turn token


def test_errors_name_lines_and_stop_at_five(tokenizer: Tokenizer) -> None:
    bad = ["{", "[]", *['{"messages": []}'] * 6]
    with pytest.raises(InvalidRequest) as exc:
        parse(
            "\n".join(bad).encode(),
            "supervised",
            tokenizer,
            param="validation_file",
            vision=False,
            min_examples=1,
        )
    assert exc.value.param == "validation_file"
    assert exc.value.code == "invalid_validation_file"
    message = exc.value.message
    assert message.count("Line ") == 5 and "Line 1:" in message and "and 3 more" in message


def test_dpo_lines(tokenizer: Tokenizer) -> None:
    row = {
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    }
    data = parse(
        _lines([row]), "dpo", tokenizer, param="training_file", vision=False, min_examples=1
    )
    assert set(data.lines[0]) == {"prompt_ids", "chosen_ids", "rejected_ids"}
    wrong = {**row, "preferred_output": [{"role": "user", "content": "x"}]}
    with pytest.raises(InvalidRequest, match="Line 1: preferred_output"):
        parse(
            _lines([wrong]), "dpo", tokenizer, param="training_file", vision=False, min_examples=1
        )
    with pytest.raises(InvalidRequest, match="Line 1"):
        parse(
            _lines([{"messages": [{"role": "user", "content": "x"}]}]),
            "dpo",
            tokenizer,
            param="training_file",
            vision=False,
            min_examples=1,
        )


def test_hyperparameters_resolve_auto_and_check_ranges() -> None:
    params = JobParams(model=MODEL, training_file="file-x")
    assert resolve_method(params, 100) == {
        "type": "supervised",
        "supervised": {
            "hyperparameters": {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 1.0}
        },
    }
    assert resolve_method(params, 2)["supervised"]["hyperparameters"]["batch_size"] == 2
    dpo = JobParams.model_validate(
        {
            "model": MODEL,
            "training_file": "f",
            "method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": "auto", "n_epochs": 2}}},
        }
    )
    assert resolve_method(dpo, 10)["dpo"]["hyperparameters"]["beta"] == 0.1
    for bad in ({"n_epochs": 51}, {"batch_size": 0}, {"learning_rate_multiplier": 0}):
        with pytest.raises(InvalidRequest) as exc:
            resolve_method(
                JobParams.model_validate(
                    {"model": MODEL, "training_file": "f", "hyperparameters": bad}
                ),
                10,
            )
        assert exc.value.param and exc.value.param.endswith(next(iter(bad)))
