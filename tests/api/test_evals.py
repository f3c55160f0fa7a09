"""client.evals and client.evals.runs through the SDK, in-process (no background runner
here, so runs stay queued): eval CRUD, list pagination and ordering, run creation and
its checks, run list / cancel / delete, output item lookups, errors naming their param,
and project isolation. Runs executing for real: tests/e2e/test_evals.py."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import openai
import pytest
from openai.types.evals.runs import OutputItemRetrieveResponse

from hearth.services.container import Services
from hearth.services.evals import samples
from hearth.services.evals.objects import output_item_object
from hearth.store.models import EvalOutputItem
from tests.conftest import API_KEY, MODEL, new_project, sdk

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {API_KEY}"}
ITEM_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["question", "answer"],
}
CUSTOM = {"type": "custom", "item_schema": ITEM_SCHEMA, "include_sample_schema": True}
CHECK = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
ROWS = [
    {"item": {"question": "2+2?", "answer": "4"}, "sample": {"output_text": "4"}},
    {"item": {"question": "3+3?", "answer": "6"}, "sample": {"output_text": "5"}},
]
JSONL = {"type": "jsonl", "source": {"type": "file_content", "content": ROWS}}


async def new_eval(client: openai.AsyncOpenAI, **overrides: Any) -> Any:
    body: dict[str, Any] = {
        "name": "arith",
        "data_source_config": CUSTOM,
        "testing_criteria": [CHECK],
    }
    body.update(overrides)
    return await client.evals.create(**body)


def bad_request(exc: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    """The error object of a 4xx."""
    return exc.value.body  # type: ignore[return-value]


# --- evals ----------------------------------------------------------------------------------


async def test_create_retrieve_custom_eval(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh, metadata={"team": "math"})
    assert ev.id.startswith("eval_") and ev.object == "eval" and ev.name == "arith"
    config = ev.data_source_config
    assert config.type == "custom"
    assert config.schema_["properties"]["item"] == ITEM_SCHEMA  # type: ignore[index]
    assert config.schema_["required"] == ["item", "sample"]
    criterion = ev.testing_criteria[0]
    assert criterion.id.startswith("exact-") and criterion.operation == "eq"  # type: ignore[union-attr]
    assert ev.metadata == {"team": "math"}
    got = await fresh.evals.retrieve(ev.id)
    assert got.model_dump() == ev.model_dump()


async def test_custom_without_sample_schema(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh, data_source_config={"type": "custom", "item_schema": ITEM_SCHEMA})
    assert ev.data_source_config.schema_ == {  # type: ignore[union-attr]
        "type": "object",
        "properties": {"item": ITEM_SCHEMA},
        "required": ["item"],
    }


@pytest.mark.parametrize("kind", ["stored_completions", "logs"])
async def test_stored_completions_config(fresh: openai.AsyncOpenAI, kind: str) -> None:
    ev = await new_eval(fresh, data_source_config={"type": kind, "metadata": {"task": "qa"}})
    config = ev.data_source_config
    assert config.type == kind and config.metadata == {"task": "qa"}  # type: ignore[union-attr]
    assert config.schema_["required"] == ["item", "sample"]  # type: ignore[union-attr]
    assert set(config.schema_["properties"]) == {"item", "sample"}  # type: ignore[union-attr]


async def test_list_pages_and_orders(fresh: openai.AsyncOpenAI) -> None:
    ids = [(await new_eval(fresh, name=f"e{i}")).id for i in range(3)]
    first = await fresh.evals.list(limit=2)
    assert [e.id for e in first.data] == ids[:2] and first.has_more
    assert [e.id async for e in await fresh.evals.list(limit=2)] == ids
    assert [e.id async for e in await fresh.evals.list(order="desc", limit=1)] == ids[::-1]
    await anyio.sleep(1.05)  # updated_at counts seconds; ties keep creation order
    await fresh.evals.update(ids[0], name="renamed")
    by_update = [e.id async for e in await fresh.evals.list(order_by="updated_at", limit=1)]
    assert by_update[-1] == ids[0]
    before = await fresh.evals.list(extra_query={"before": ids[2], "limit": 1})
    assert [e.id for e in before.data] == [ids[1]] and before.has_more
    before = await fresh.evals.list(
        order_by="updated_at", extra_query={"before": by_update[2], "limit": 1}
    )
    assert [e.id for e in before.data] == [by_update[1]] and before.has_more


async def test_update_and_delete(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh, metadata={"a": "1"})
    renamed = await fresh.evals.update(ev.id, name="new name")
    assert renamed.name == "new name" and renamed.metadata == {"a": "1"}
    cleared = await fresh.evals.update(ev.id, metadata={"b": "2"})
    assert cleared.name == "new name" and cleared.metadata == {"b": "2"}
    gone = await fresh.evals.delete(ev.id)
    assert (gone.object, gone.deleted, gone.eval_id) == ("eval.deleted", True, ev.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.evals.retrieve(ev.id)


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"data_source_config": {"type": "sql"}}, "data_source_config.type"),
        ({"data_source_config": {"type": {}}}, "data_source_config.type"),
        ({"data_source_config": {"type": ["custom"]}}, "data_source_config.type"),
        ({"data_source_config": {"type": "custom"}}, "data_source_config.item_schema"),
        (
            {"data_source_config": {"type": "custom", "item_schema": {"type": "thing"}}},
            "data_source_config.item_schema",
        ),
        (
            {"data_source_config": {"type": "custom", "item_schema": {"$schema": {}}}},
            "data_source_config.item_schema",
        ),
        ({"testing_criteria": [{**CHECK, "operation": "regex"}]}, "testing_criteria[0].operation"),
        (
            {"testing_criteria": [{**CHECK, "input": "{{ output_text }}"}]},
            "testing_criteria[0].input",
        ),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ],
)
async def test_create_errors_name_param(
    fresh: openai.AsyncOpenAI, overrides: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        await new_eval(fresh, **overrides)
    assert bad_request(exc)["param"] == param


async def test_multi_criterion_round_trips(
    fresh: openai.AsyncOpenAI, http: httpx2.AsyncClient
) -> None:
    combined = {
        "type": "multi",
        "name": "combined",
        "calculate_output": "0.5 * a + 0.5 * b",
        "graders": {"a": CHECK, "b": {**CHECK, "operation": "ilike"}},
    }
    ev = await new_eval(fresh, testing_criteria=[CHECK, combined])
    auth = {"Authorization": f"Bearer {fresh.api_key}"}
    criterion = (await http.get(f"/v1/evals/{ev.id}", headers=auth)).json()["testing_criteria"][1]
    assert criterion["id"].startswith("combined-") and criterion["pass_threshold"] == 0.5
    assert criterion["graders"]["b"] == {**CHECK, "operation": "ilike"}
    assert criterion["calculate_output"] == combined["calculate_output"]
    listed = (await http.get("/v1/evals", headers=auth)).json()["data"][0]
    renamed = (await http.post(f"/v1/evals/{ev.id}", json={"name": "x"}, headers=auth)).json()
    assert listed["testing_criteria"][1] == renamed["testing_criteria"][1] == criterion


async def test_unknown_judge_model_is_404(fresh: openai.AsyncOpenAI) -> None:
    judge = {
        "type": "label_model",
        "name": "judge",
        "model": "no-such-model",
        "input": [{"role": "user", "content": "{{item.question}}"}],
        "labels": ["yes", "no"],
        "passing_labels": ["yes"],
    }
    with pytest.raises(openai.NotFoundError) as exc:
        await new_eval(fresh, testing_criteria=[CHECK, judge])
    assert bad_request(exc)["param"] == "testing_criteria[1].model"
    assert bad_request(exc)["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("order=up", "order"),
        ("order_by=name", "order_by"),
        ("after=eval_nope", "after"),
    ],
)
async def test_list_errors(http: httpx2.AsyncClient, query: str, param: str) -> None:
    response = await http.get(f"/v1/evals?{query}", headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


# --- runs --------------------------------------------------------------------------------------


async def test_create_jsonl_run(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh)
    run = await fresh.evals.runs.create(
        ev.id,
        data_source=JSONL,
        name="first",  # type: ignore[arg-type]
        metadata={"k": "v"},
    )
    assert run.id.startswith("evalrun_") and run.object == "eval.run"
    assert (run.eval_id, run.status, run.name, run.metadata) == (
        ev.id,
        "queued",
        "first",
        {"k": "v"},
    )
    assert run.data_source.model_dump(exclude_none=True) == JSONL
    assert run.result_counts.model_dump() == {"total": 0, "errored": 0, "failed": 0, "passed": 0}
    assert [r.testing_criteria for r in run.per_testing_criteria_results] == [
        ev.testing_criteria[0].id
    ]  # type: ignore[union-attr]
    assert run.error is None
    got = await fresh.evals.runs.retrieve(run.id, eval_id=ev.id)
    assert got.model_dump() == run.model_dump()
    items = await fresh.evals.runs.output_items.list(run.id, eval_id=ev.id)
    assert items.data == [] and not items.has_more


async def test_jsonl_file_run(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh)
    lines = [json.dumps(ROWS[0]), "", json.dumps(ROWS[1]["item"])]  # bare items are rows
    file = await fresh.files.create(file=("rows.jsonl", "\n".join(lines).encode()), purpose="evals")
    source = {"type": "jsonl", "source": {"type": "file_id", "id": file.id}}
    run = await fresh.evals.runs.create(ev.id, data_source=source)  # type: ignore[arg-type]
    assert run.status == "queued" and run.data_source.source.id == file.id  # type: ignore[union-attr]


async def test_completions_run(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh)
    source = {
        "type": "completions",
        "model": MODEL,
        "source": {"type": "file_content", "content": [{"item": ROWS[0]["item"]}]},
        "input_messages": {
            "type": "template",
            "template": [
                {"role": "developer", "content": "Answer with a number."},
                {
                    "type": "message",
                    "role": "user",
                    "content": {"type": "input_text", "text": "{{item.question}}"},
                },
            ],
        },
        "sampling_params": {"temperature": 0, "max_completion_tokens": 8, "seed": 1},
    }
    run = await fresh.evals.runs.create(ev.id, data_source=source)  # type: ignore[arg-type]
    assert (run.model, run.name, run.status) == (MODEL, MODEL, "queued")


def _bad_item() -> dict[str, Any]:
    return {
        "type": "jsonl",
        "source": {
            "type": "file_content",
            "content": [ROWS[0], {"item": {"question": "no answer"}}],
        },
    }


def _template(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "completions",
        "model": MODEL,
        **extra,
        "source": {"type": "file_content", "content": [ROWS[0]]},
        "input_messages": {"type": "template", "template": [{"role": "user", "content": text}]},
    }


@pytest.mark.parametrize(
    ("data_source", "param"),
    [
        (_bad_item(), "data_source.source.content[1].item"),
        (
            {"type": "responses", "source": {"type": "file_content", "content": []}},
            "data_source.type",
        ),
        ({"type": "jsonl", "source": {"type": "stored_completions"}}, "data_source.source.type"),
        ({"type": "jsonl", "source": {"type": "file_content"}}, "data_source.source.content"),
        (_template("{{sample.output_text}}"), "data_source.input_messages.template[0].content"),
        (
            _template("{{item.question}}", sampling_params={"temperature": 3}),
            "data_source.sampling_params.temperature",
        ),
        ({**_template("{{item.question}}"), "model": None}, "data_source.model"),
        (
            {
                "type": "completions",
                "model": MODEL,
                "source": {"type": "file_content", "content": [ROWS[0]]},
            },
            "data_source.input_messages",
        ),
        ({"type": "jsonl", "source": {"type": {"file_id": 1}}}, "data_source.source.type"),
        # refused as the run would return it
        (
            _template("{{item.question}}", sampling_params={"reasoning_effort": "extreme"}),
            "data_source.sampling_params.reasoning_effort",
        ),
    ],
)
async def test_run_errors_name_param(
    fresh: openai.AsyncOpenAI, data_source: dict[str, Any], param: str
) -> None:
    ev = await new_eval(fresh)
    with pytest.raises(openai.BadRequestError) as exc:
        await fresh.evals.runs.create(ev.id, data_source=data_source)  # type: ignore[arg-type]
    assert bad_request(exc)["param"] == param


async def test_run_unknown_model_is_404(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh)
    with pytest.raises(openai.NotFoundError) as exc:
        await fresh.evals.runs.create(
            ev.id,
            data_source=_template(  # type: ignore[arg-type]
                "{{item.question}}"
            )
            | {"model": "gpt-9"},
        )
    assert (bad_request(exc)["param"], bad_request(exc)["code"]) == ("model", "model_not_found")


async def test_run_file_errors(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh)

    async def run_on(data: bytes, purpose: str = "evals") -> dict[str, Any]:
        file = await fresh.files.create(file=("rows.jsonl", data), purpose=purpose)  # type: ignore[arg-type]
        with pytest.raises(openai.APIStatusError) as exc:
            await fresh.evals.runs.create(
                ev.id,
                data_source={  # type: ignore[arg-type]
                    "type": "jsonl",
                    "source": {"type": "file_id", "id": file.id},
                },
            )
        body = bad_request(exc)
        assert body["param"] == "data_source.source.id"
        return body

    good = json.dumps(ROWS[0]).encode()
    assert "Line 2 " in (await run_on(good + b"\n{oops\n"))["message"]
    assert "line 3 " in (await run_on(good + b"\n\n" + b'{"item": {"q": 1}}'))["message"]
    assert (await run_on(good, "fine-tune"))["code"] == "invalid_file_purpose"
    with pytest.raises(openai.NotFoundError) as missing:
        await fresh.evals.runs.create(
            ev.id,
            data_source={  # type: ignore[arg-type]
                "type": "jsonl",
                "source": {"type": "file_id", "id": "file-nope"},
            },
        )
    assert bad_request(missing)["param"] == "data_source.source.id"


async def test_list_cancel_delete_runs(fresh: openai.AsyncOpenAI, http: httpx2.AsyncClient) -> None:
    ev = await new_eval(fresh)
    runs = [
        await fresh.evals.runs.create(ev.id, data_source=JSONL)  # type: ignore[arg-type]
        for _ in range(3)
    ]
    listed = [r.id async for r in await fresh.evals.runs.list(ev.id, limit=2)]
    assert listed == [r.id for r in runs]
    canceled = await fresh.evals.runs.cancel(runs[0].id, eval_id=ev.id)
    assert canceled.status == "canceled"
    # the API reference's path cancels too (POST .../runs/{run_id})
    key = fresh.api_key
    response = await http.post(
        f"/v1/evals/{ev.id}/runs/{runs[1].id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert [r.id async for r in await fresh.evals.runs.list(ev.id, status="canceled")] == [
        runs[0].id,
        runs[1].id,
    ]
    assert [r.id for r in (await fresh.evals.runs.list(ev.id, status="queued")).data] == [
        runs[2].id
    ]
    assert [r.id for r in (await fresh.evals.runs.list(ev.id, order="desc")).data] == [
        r.id for r in runs[::-1]
    ]
    gone = await fresh.evals.runs.delete(runs[2].id, eval_id=ev.id)
    assert (gone.object, gone.deleted, gone.run_id) == ("eval.run.deleted", True, runs[2].id)
    with pytest.raises(openai.NotFoundError):
        await fresh.evals.runs.retrieve(runs[2].id, eval_id=ev.id)
    with pytest.raises(openai.BadRequestError) as exc:
        await fresh.evals.runs.list(ev.id, status="done")  # type: ignore[arg-type]
    assert bad_request(exc)["param"] == "status"


async def test_output_item_lookups(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh)
    run = await fresh.evals.runs.create(ev.id, data_source=JSONL)  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        await fresh.evals.runs.output_items.retrieve(
            "outputitem_nope", eval_id=ev.id, run_id=run.id
        )
    with pytest.raises(openai.BadRequestError) as exc:
        await fresh.evals.runs.output_items.list(run.id, eval_id=ev.id, status="passed")  # type: ignore[arg-type]
    assert bad_request(exc)["param"] == "status"
    other = await new_eval(fresh)
    with pytest.raises(openai.NotFoundError):  # a run is found only under its own eval
        await fresh.evals.runs.retrieve(run.id, eval_id=other.id)


def test_a_rows_own_sample_is_returned_in_the_output_item_shape() -> None:
    """Whatever a jsonl row's ``sample`` holds, its output item validates as the SDK's
    type (numbers where numbers go, text messages)."""
    sample = samples.given_sample(
        {
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "2+2?"}]}, "x"],
            "output": [{"role": "assistant", "content": {"answer": 4}}],
            "model": 7,
            "usage": {"prompt_tokens": "many", "total_tokens": 3},
            "temperature": "hot",
            "seed": 1.5,
            "top_p": 1,
            "finish_reason": None,
        }
    )
    row = EvalOutputItem(
        id="outputitem_1",
        run_id="evalrun_1",
        eval_id="eval_1",
        datasource_item_id=0,
        datasource_item={"q": 1},
        results=[],
        sample=sample,
        status="pass",
        created_at=1,
    )
    item = output_item_object(OutputItemRetrieveResponse, row)
    body = item.model_dump(mode="json", exclude_unset=True)
    assert body["sample"] == {
        "input": [{"role": "user", "content": "2+2?"}],
        "output": [{"role": "assistant", "content": '{"answer": 4}'}],
        "finish_reason": "",
        "model": "",
        "usage": {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 3,
            "cached_tokens": 0,
        },
        "error": None,
        "temperature": None,
        "max_completion_tokens": None,
        "top_p": 1.0,
        "seed": None,
    }


async def test_deleting_an_eval_deletes_its_runs(fresh: openai.AsyncOpenAI) -> None:
    ev = await new_eval(fresh)
    run = await fresh.evals.runs.create(ev.id, data_source=JSONL)  # type: ignore[arg-type]
    await fresh.evals.delete(ev.id)
    with pytest.raises(openai.NotFoundError):
        await fresh.evals.runs.retrieve(run.id, eval_id=ev.id)


async def test_projects_are_isolated(
    fresh: openai.AsyncOpenAI, services: Services, http: httpx2.AsyncClient
) -> None:
    ev = await new_eval(fresh)
    run = await fresh.evals.runs.create(ev.id, data_source=JSONL)  # type: ignore[arg-type]
    file = await fresh.files.create(
        file=("rows.jsonl", json.dumps(ROWS[0]).encode()), purpose="evals"
    )
    async with sdk(http, new_project(services)[1]) as other:
        assert (await other.evals.list()).data == []
        with pytest.raises(openai.NotFoundError):
            await other.evals.retrieve(ev.id)
        with pytest.raises(openai.NotFoundError):
            await other.evals.update(ev.id, name="mine")
        with pytest.raises(openai.NotFoundError):
            await other.evals.delete(ev.id)
        with pytest.raises(openai.NotFoundError):
            await other.evals.runs.list(ev.id)
        with pytest.raises(openai.NotFoundError):
            await other.evals.runs.retrieve(run.id, eval_id=ev.id)
        with pytest.raises(openai.NotFoundError):
            await other.evals.runs.cancel(run.id, eval_id=ev.id)
        with pytest.raises(openai.NotFoundError):
            await other.evals.runs.create(ev.id, data_source=JSONL)  # type: ignore[arg-type]
        mine = await new_eval(other)
        with pytest.raises(openai.NotFoundError):  # another project's file
            await other.evals.runs.create(
                mine.id,
                data_source={  # type: ignore[arg-type]
                    "type": "jsonl",
                    "source": {"type": "file_id", "id": file.id},
                },
            )
        assert (await fresh.evals.runs.retrieve(run.id, eval_id=ev.id)).status == "queued"
