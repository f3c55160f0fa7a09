"""Eval runs executed by a real ``hearth serve``: a jsonl run graded by string_check, a
completions run where the bundled model answers and judges, a run over stored
completions, output items with their status filter, cancel, and a run that survives its
server being killed (SIGKILL) and restarted on the same data dir."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import API_KEY, MODEL
from tests.e2e.conftest import start_server, stop_server

pytestmark = pytest.mark.e2e

ITEM_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
CUSTOM = {"type": "custom", "item_schema": ITEM_SCHEMA, "include_sample_schema": True}
EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
FINISHED = ("completed", "failed", "canceled")


def wait_for(
    client: openai.OpenAI,
    eval_id: str,
    run_id: str,
    done: Any = lambda run: run.status in FINISHED,
    timeout: float = 300,
) -> Any:
    """Poll the run until ``done(run)``; the run."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if done(run):
            return run
        assert time.monotonic() < deadline, f"run stuck: {run.model_dump()}"
        time.sleep(0.2)


def counting_rows(n: int) -> list[dict[str, Any]]:
    """Rows whose answers take the model many tokens (for runs that must last)."""
    return [
        {"item": {"question": f"Count from {i} to {i + 60}, separated by commas.", "answer": "-"}}
        for i in range(n)
    ]


def completions(rows: list[dict[str, Any]], max_tokens: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "completions",
        "model": MODEL,
        "source": {"type": "file_content", "content": rows},
        "input_messages": {
            "type": "template",
            "template": [
                {"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "{{item.question}}"},
            ],
        },
        "sampling_params": {
            "temperature": 0,
            "max_completion_tokens": max_tokens,
            "seed": 7,
            **extra,
        },
    }


def test_jsonl_run_with_string_check(sync_client: openai.OpenAI) -> None:
    ev = sync_client.evals.create(
        name="jsonl",
        data_source_config=CUSTOM,  # type: ignore[arg-type]
        testing_criteria=[EXACT],
    )  # type: ignore[list-item]
    rows = [
        {"item": {"question": "2+2", "answer": "4"}, "sample": {"output_text": "4"}},
        {"item": {"question": "3+3", "answer": "6"}, "sample": {"output_text": "5"}},
        {"item": {"question": "1+1", "answer": "2"}, "sample": {"output_text": "2"}},
    ]
    run = sync_client.evals.runs.create(
        ev.id,
        data_source={  # type: ignore[arg-type]
            "type": "jsonl",
            "source": {"type": "file_content", "content": rows},
        },
    )
    run = wait_for(sync_client, ev.id, run.id)
    assert run.status == "completed" and run.error is None
    assert run.result_counts.model_dump() == {"total": 3, "passed": 2, "failed": 1, "errored": 0}
    assert [r.model_dump() for r in run.per_testing_criteria_results] == [
        {"testing_criteria": ev.testing_criteria[0].id, "passed": 2, "failed": 1}
    ]  # type: ignore[union-attr]
    assert run.per_model_usage == []

    items = sync_client.evals.runs.output_items.list(run.id, eval_id=ev.id)
    assert sorted(i.datasource_item_id for i in items.data) == [0, 1, 2]
    passed = sync_client.evals.runs.output_items.list(run.id, eval_id=ev.id, status="pass")
    failed = sync_client.evals.runs.output_items.list(run.id, eval_id=ev.id, status="fail")
    assert sorted(i.datasource_item_id for i in passed.data) == [0, 2]
    assert [i.datasource_item_id for i in failed.data] == [1]
    item = sync_client.evals.runs.output_items.retrieve(
        failed.data[0].id, eval_id=ev.id, run_id=run.id
    )
    assert item.object == "eval.run.output_item" and item.status == "fail"
    assert item.datasource_item == rows[1]["item"]
    assert item.sample.output[0].content == "5"
    result = item.results[0]
    assert (result.name, result.passed, result.score) == (
        ev.testing_criteria[0].id,  # type: ignore[union-attr]
        False,
        0.0,
    )
    pages = [i.id for i in sync_client.evals.runs.output_items.list(run.id, eval_id=ev.id, limit=1)]
    assert pages == [i.id for i in items.data]


def test_completions_run_with_model_and_judge(sync_client: openai.OpenAI) -> None:
    judge = {
        "type": "label_model",
        "name": "judge",
        "model": MODEL,
        "input": [
            {"role": "system", "content": "Is the answer a number?"},
            {"role": "user", "content": "{{sample.output_text}}"},
        ],
        "labels": ["yes", "no"],
        "passing_labels": ["yes", "no"],
    }
    ev = sync_client.evals.create(
        name="model",
        data_source_config=CUSTOM,  # type: ignore[arg-type]
        testing_criteria=[{**EXACT, "operation": "ne"}, judge],
    )  # type: ignore[list-item]
    rows = [{"item": {"question": "What is 2+2?", "answer": "x"}}]
    run = sync_client.evals.runs.create(ev.id, data_source=completions(rows, 6))  # type: ignore[arg-type]
    assert run.status == "queued" and run.model == MODEL
    run = wait_for(sync_client, ev.id, run.id)
    assert run.status == "completed", run.error
    assert run.result_counts.total == 1 and run.result_counts.passed == 1
    usage = run.per_model_usage[0]
    assert usage.run_model_name == MODEL
    assert usage.invocation_count == 2  # the sample and the judge's call
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0

    item = sync_client.evals.runs.output_items.list(run.id, eval_id=ev.id).data[0]
    sample = item.sample
    assert [m.role for m in sample.input] == ["system", "user"]
    assert sample.input[1].content == rows[0]["item"]["question"]
    assert sample.output[0].role == "assistant" and sample.output[0].content
    assert sample.model == MODEL and sample.finish_reason in ("stop", "length")
    assert (sample.temperature, sample.max_completion_tokens, sample.seed) == (0, 6, 7)
    assert 0 < sample.usage.completion_tokens <= 6
    assert sample.error is None
    label = item.results[1]
    assert label.passed and label.sample["output"]  # type: ignore[index]


def test_run_over_stored_completions(sync_client: openai.OpenAI) -> None:
    task = f"evals-{secrets.token_hex(4)}"
    answers = []
    for question in ("Say hi.", "Say bye.", "Say yes."):
        done = sync_client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": question}],
            max_tokens=4,
            temperature=0,
            store=True,
            metadata={"task": task},
        )
        answers.append(done.choices[0].message.content)
    ev = sync_client.evals.create(
        name="stored",
        data_source_config={
            "type": "stored_completions",  # type: ignore[arg-type]
            "metadata": {"task": task},
        },
        testing_criteria=[
            {
                "type": "string_check",
                "name": "same",  # type: ignore[list-item]
                "input": "{{sample.output_text}}",
                "reference": "{{item.output_text}}",
                "operation": "eq",
            }
        ],
    )
    source = {"type": "stored_completions", "metadata": {"task": task}}
    graded = sync_client.evals.runs.create(
        ev.id,
        data_source={  # type: ignore[arg-type]
            "type": "completions",
            "source": source,
        },
    )
    run = wait_for(sync_client, ev.id, graded.id)
    assert run.status == "completed", run.error
    assert run.result_counts.total == 3 and run.result_counts.passed == 3
    items = {
        i.datasource_item_id: i
        for i in sync_client.evals.runs.output_items.list(graded.id, eval_id=ev.id)
    }
    assert [items[i].sample.output[0].content for i in range(3)] == answers
    assert items[0].datasource_item["input"] == [{"role": "user", "content": "Say hi."}]
    assert items[0].datasource_item["output_text"] == answers[0]

    # the model answers each stored input again (batched, so not necessarily identically)
    again = sync_client.evals.runs.create(
        ev.id,
        data_source={  # type: ignore[arg-type]
            "type": "completions",
            "source": source,
            "model": MODEL,
            "input_messages": {"type": "item_reference", "item_reference": "item.input"},
            "sampling_params": {"temperature": 0, "max_completion_tokens": 4},
        },
    )
    run = wait_for(sync_client, ev.id, again.id)
    assert run.status == "completed", run.error
    assert run.result_counts.total == 3 and run.per_model_usage[0].invocation_count == 3
    item = sync_client.evals.runs.output_items.list(again.id, eval_id=ev.id).data[0]
    assert item.sample.input[0].content == item.datasource_item["input"][0]["content"]
    assert item.sample.usage.completion_tokens <= 4


def test_stored_responses_feed_the_stored_completions_source(sync_client: openai.OpenAI) -> None:
    task = f"responses-{secrets.token_hex(4)}"
    first = sync_client.responses.create(
        model=MODEL,
        instructions="Be brief.",
        input="Say hi.",
        max_output_tokens=64,
        temperature=0,
        metadata={"task": task},
    )
    second = sync_client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input="Say bye.",
        max_output_tokens=64,
        temperature=0,
        metadata={"task": task},
    )
    ev = sync_client.evals.create(
        name="from responses",
        data_source_config={"type": "logs", "metadata": {"task": task}},  # type: ignore[arg-type]
        testing_criteria=[
            {
                "type": "string_check",
                "name": "same",  # type: ignore[list-item]
                "input": "{{sample.output_text}}",
                "reference": "{{item.output_text}}",
                "operation": "eq",
            }
        ],
    )
    source = {"type": "stored_completions", "metadata": {"task": task}}
    graded = sync_client.evals.runs.create(
        ev.id,
        data_source={"type": "completions", "source": source},  # type: ignore[arg-type]
    )
    run = wait_for(sync_client, ev.id, graded.id)
    assert run.status == "completed", run.error
    done = [r for r in (first, second) if r.status == "completed"]
    assert run.result_counts.total == run.result_counts.passed == len(done)
    items = sorted(
        sync_client.evals.runs.output_items.list(graded.id, eval_id=ev.id),
        key=lambda i: i.datasource_item_id,
    )
    if second.status == "completed":
        # the second response's input is the whole chain as chat messages (instructions
        # are not carried from one response to the next, as OpenAI)
        roles = [m["role"] for m in items[-1].datasource_item["input"]]
        assert roles == ["user", "assistant", "user"]
        assert items[-1].datasource_item["output_text"] == second.output_text


def test_cancel_a_running_run(sync_client: openai.OpenAI) -> None:
    ev = sync_client.evals.create(
        name="cancel",
        data_source_config=CUSTOM,  # type: ignore[arg-type]
        testing_criteria=[EXACT],
    )  # type: ignore[list-item]
    rows = counting_rows(40)
    run = sync_client.evals.runs.create(ev.id, data_source=completions(rows, 32))  # type: ignore[arg-type]
    wait_for(sync_client, ev.id, run.id, lambda r: r.result_counts.total >= 1)
    canceled = sync_client.evals.runs.cancel(run.id, eval_id=ev.id)
    assert canceled.status == "canceled"
    written = len(list(sync_client.evals.runs.output_items.list(run.id, eval_id=ev.id)))
    assert 1 <= written < len(rows)
    # a later request sees the same: nothing more was graded
    time.sleep(1.0)
    after = sync_client.evals.runs.retrieve(run.id, eval_id=ev.id)
    assert after.status == "canceled" and after.result_counts.total == written
    done = sync_client.evals.runs.create(
        ev.id,
        data_source={  # type: ignore[arg-type]
            "type": "jsonl",
            "source": {
                "type": "file_content",
                "content": [
                    {"item": {"question": "q", "answer": "a"}, "sample": {"output_text": "a"}}
                ],
            },
        },
    )
    assert wait_for(sync_client, ev.id, done.id).status == "completed"
    with pytest.raises(openai.BadRequestError):  # finished runs cannot be canceled
        sync_client.evals.runs.cancel(done.id, eval_id=ev.id)


def test_run_survives_a_killed_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"HEARTH_LEASE_SECONDS": "2", "HEARTH_EVAL_CONCURRENCY": "1"}
    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    rows = counting_rows(4)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        ev = client.evals.create(
            name="durable",
            data_source_config=CUSTOM,  # type: ignore[arg-type]
            testing_criteria=[EXACT],
        )  # type: ignore[list-item]
        run = client.evals.runs.create(ev.id, data_source=completions(rows, 24))  # type: ignore[arg-type]
        first = wait_for(client, ev.id, run.id, lambda r: r.result_counts.total >= 1)
        server.process.kill()  # SIGKILL: no shutdown, the lease is left to expire
        server.process.wait()
    finally:
        stop_server(server)
    assert first.status == "in_progress" and first.result_counts.total < len(rows)

    server = start_server(data_dir, "--api-key", API_KEY, env=env)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0)
        run = wait_for(client, ev.id, run.id)
        assert run.status == "completed", run.error
        assert run.result_counts.total == len(rows)
        items = list(client.evals.runs.output_items.list(run.id, eval_id=ev.id))
        assert sorted(i.datasource_item_id for i in items) == list(range(len(rows)))
    finally:
        stop_server(server)
