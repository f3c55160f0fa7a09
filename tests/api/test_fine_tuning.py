"""client.fine_tuning.jobs through the SDK, in-process, without training (in-process tests
run no background work, so jobs stay where the API puts them): create, retrieve, list
(newest first, metadata filter, cursors), list_events, checkpoints.list, pause, resume,
cancel, bad requests and project isolation. Training itself is in
tests/e2e/test_fine_tuning.py."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest

from hearth.services.container import Services
from tests.conftest import MODEL, new_project, sdk

pytestmark = pytest.mark.anyio


def _jsonl(rows: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def examples(n: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"Say {i}"},
                {"role": "assistant", "content": str(i)},
            ]
        }
        for i in range(n)
    ]


async def upload(client: openai.AsyncOpenAI, rows: list[Any], purpose: str = "fine-tune") -> str:
    return (await client.files.create(file=("train.jsonl", _jsonl(rows)), purpose=purpose)).id  # type: ignore[arg-type]


async def create(client: openai.AsyncOpenAI, file_id: str, **kw: Any) -> Any:
    return await client.fine_tuning.jobs.create(model=MODEL, training_file=file_id, **kw)


def _error(exc: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    return exc.value.body if isinstance(exc.value.body, dict) else {}  # type: ignore[return-value]


async def test_create_resolves_hyperparameters_and_hides_the_model_id(
    fresh: openai.AsyncOpenAI,
) -> None:
    file_id = await upload(fresh, examples())
    job = await create(fresh, file_id, suffix="unit", seed=5, metadata={"k": "v"})
    assert job.object == "fine_tuning.job" and job.id.startswith("ftjob-")
    assert job.status == "queued" and job.fine_tuned_model is None
    assert job.seed == 5 and job.metadata == {"k": "v"} and job.result_files == []
    assert job.method.type == "supervised"
    hp = job.method.supervised.hyperparameters
    assert (hp.n_epochs, hp.batch_size, hp.learning_rate_multiplier) == (3, 4, 1.0)
    assert job.hyperparameters.n_epochs == 3  # the deprecated copy
    again = await fresh.fine_tuning.jobs.retrieve(job.id)
    assert again.model_dump() == job.model_dump()
    events = (await fresh.fine_tuning.jobs.list_events(job.id)).data
    assert events[0].message.startswith("Files validated (10 examples, ")  # newest first
    assert events[1].message == f"Validating training file: {file_id}"
    assert all(e.object == "fine_tuning.job.event" and e.type == "message" for e in events)
    assert (await fresh.fine_tuning.jobs.checkpoints.list(job.id)).data == []


async def test_dpo_job_reports_beta(fresh: openai.AsyncOpenAI) -> None:
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": f"q{i}"}]},
            "preferred_output": [{"role": "assistant", "content": "yes"}],
            "non_preferred_output": [{"role": "assistant", "content": "no"}],
        }
        for i in range(10)
    ]
    job = await create(
        fresh,
        await upload(fresh, rows),
        method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1}}},
    )
    hp = job.method.dpo.hyperparameters
    assert (hp.n_epochs, hp.batch_size, hp.beta) == (1, 4, 0.1)


async def test_list_is_newest_first_with_cursors_and_metadata(fresh: openai.AsyncOpenAI) -> None:
    file_id = await upload(fresh, examples())
    ids = [(await create(fresh, file_id, metadata={"n": str(i % 2)})).id for i in range(3)]
    page = await fresh.fine_tuning.jobs.list()
    assert [j.id for j in page.data] == ids[::-1] and not page.has_more
    first = await fresh.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in first.data] == ids[:0:-1] and first.has_more
    rest = await fresh.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)
    assert [j.id for j in rest.data] == ids[:1] and not rest.has_more
    assert [j.id async for j in fresh.fine_tuning.jobs.list(limit=1)] == ids[::-1]
    even = await fresh.fine_tuning.jobs.list(metadata={"n": "0"})
    assert [j.id for j in even.data] == [ids[2], ids[0]]
    with pytest.raises(openai.BadRequestError) as limit:
        await fresh.fine_tuning.jobs.list(limit=101)
    assert _error(limit)["param"] == "limit"
    with pytest.raises(openai.BadRequestError) as cursor:
        await fresh.fine_tuning.jobs.list(after="ftjob-nope")
    assert _error(cursor)["param"] == "after"


async def test_pause_resume_cancel(fresh: openai.AsyncOpenAI) -> None:
    job = await create(fresh, await upload(fresh, examples()))
    jobs = fresh.fine_tuning.jobs
    assert (await jobs.pause(job.id)).status == "paused"
    assert (await jobs.retrieve(job.id)).status == "paused"
    with pytest.raises(openai.BadRequestError) as twice:
        await jobs.pause(job.id)
    assert _error(twice)["param"] == "fine_tuning_job_id"
    assert (await jobs.resume(job.id)).status == "queued"
    with pytest.raises(openai.BadRequestError):
        await jobs.resume(job.id)
    cancelled = await jobs.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    for action in (jobs.cancel, jobs.pause, jobs.resume):
        with pytest.raises(openai.BadRequestError):
            await action(job.id)
    messages = [e.message for e in (await jobs.list_events(job.id, limit=3)).data]
    assert messages == [
        "Fine-tuning job cancelled",
        "Fine-tuning job resumed",
        "Fine-tuning job paused",
    ]


async def test_bad_requests(fresh: openai.AsyncOpenAI) -> None:
    good = await upload(fresh, examples())
    with pytest.raises(openai.NotFoundError) as model:
        await fresh.fine_tuning.jobs.create(model="no-such-model", training_file=good)
    assert _error(model)["param"] == "model"
    with pytest.raises(openai.NotFoundError) as missing:
        await create(fresh, "file-missing")
    assert _error(missing)["param"] == "training_file"
    with pytest.raises(openai.BadRequestError) as purpose:
        await create(fresh, await upload(fresh, examples(), purpose="user_data"))
    assert _error(purpose)["param"] == "training_file"
    with pytest.raises(openai.BadRequestError) as suffix:
        await create(fresh, good, suffix="a:b")
    assert _error(suffix)["param"] == "suffix"
    with pytest.raises(openai.BadRequestError) as epochs:
        await create(
            fresh,
            good,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 51}}},
        )
    assert _error(epochs)["param"] == "method.supervised.hyperparameters.n_epochs"
    with pytest.raises(openai.BadRequestError) as old_form:
        await create(fresh, good, hyperparameters={"learning_rate_multiplier": 0})
    assert _error(old_form)["param"] == "method.supervised.hyperparameters.learning_rate_multiplier"
    with pytest.raises(openai.BadRequestError) as unknown:
        await create(fresh, good, extra_body={"epochs": 3})
    assert _error(unknown)["param"] == "epochs"
    with pytest.raises(openai.BadRequestError) as rl:
        await create(fresh, good, method={"type": "reinforcement"})
    assert _error(rl)["param"] == "method.type"
    for job_call in (
        fresh.fine_tuning.jobs.retrieve,
        fresh.fine_tuning.jobs.cancel,
        fresh.fine_tuning.jobs.list_events,
        fresh.fine_tuning.jobs.checkpoints.list,
    ):
        with pytest.raises(openai.NotFoundError) as nf:
            await job_call("ftjob-missing")
        assert _error(nf)["code"] == "fine_tune_not_found"
    assert (await fresh.fine_tuning.jobs.list()).data == []


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (["{not json", *examples(9)], ["Line 1:", "JSON"]),
        ([*examples(9), [1, 2]], ["Line 10:", "object"]),
        (
            [*examples(9), {"messages": [{"role": "robot", "content": "hi"}]}],
            ["Line 10:", "messages[0].role", "robot"],
        ),
        ([*examples(9), {"messages": "hi"}], ["Line 10:", "'messages'"]),
        (
            [*examples(9), {"messages": [{"role": "user", "content": "hi"}], "extra": 1}],
            ["Line 10:", "Unknown parameter: 'extra'"],
        ),
        (
            [*examples(9), {"messages": [{"role": "user", "content": "hi"}]}],
            ["Line 10:", "assistant"],
        ),
        (examples(3), ["3 example", "at least 10"]),
    ],
)
async def test_bad_training_files_name_their_lines(
    fresh: openai.AsyncOpenAI, rows: list[Any], words: list[str]
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        await create(fresh, await upload(fresh, rows))
    err = _error(exc)
    assert err["param"] == "training_file" and err["code"] == "invalid_training_file"
    assert all(w in err["message"] for w in words), err["message"]
    assert (await fresh.fine_tuning.jobs.list()).data == []


async def test_another_projects_jobs_are_invisible(
    fresh: openai.AsyncOpenAI, services: Services, http: httpx2.AsyncClient
) -> None:
    job = await create(fresh, await upload(fresh, examples()))
    async with sdk(http, new_project(services)[1]) as other:
        with pytest.raises(openai.NotFoundError):
            await other.fine_tuning.jobs.retrieve(job.id)
        with pytest.raises(openai.NotFoundError):
            await other.fine_tuning.jobs.pause(job.id)
        assert (await other.fine_tuning.jobs.list()).data == []
        with pytest.raises(openai.BadRequestError):
            await other.fine_tuning.jobs.list(after=job.id)
