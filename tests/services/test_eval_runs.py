"""Eval runs on the one background runner (``hearth.jobs.JobRunner`` over
``services.evals.executor.RunWork``), in process over a fresh database and without a
model (jsonl rows bring their samples; string_check grades them): a run graded to the
end, a resumed run that skips the rows it already graded, and a run interrupted more
than ``MAX_ATTEMPTS`` times given up. Runs with a model, cancel and a killed server:
tests/e2e/test_evals.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
from sqlalchemy import update

from hearth.domain import PageParams
from hearth.jobs import MAX_ATTEMPTS, JobRunner
from hearth.services.evals import data_sources as ds
from hearth.services.evals.criteria import validate_criteria
from hearth.services.evals.executor import RunWork, Tally
from hearth.store import leases
from hearth.store.db import create_db_engine, migrate, session_factory
from hearth.store.evals import EvalStore
from hearth.store.models import EvalRun
from tests.conftest import add_project, database_url_for

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}
CHECK = {
    "type": "string_check",
    "name": "exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
ROWS = [
    {"item": {"answer": "4"}, "sample": {"output_text": "4"}},
    {"item": {"answer": "6"}, "sample": {"output_text": "5"}},
    {"item": {"answer": "2"}, "sample": {"output_text": "2"}},
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[EvalStore, str]]:
    """Repositories over a new database, and a project id in it."""
    engine = create_db_engine(database_url_for(tmp_path) or f"sqlite:///{tmp_path / 'evals.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    project_id = add_project(sessions)[1]
    yield EvalStore(sessions), project_id
    engine.dispose()


def new_run(store: EvalStore, project_id: str) -> tuple[str, str]:
    """A queued jsonl run over ``ROWS``: its eval's id and its id."""
    criteria = validate_criteria([CHECK])
    ev = store.evals.insert(
        project_id,
        name="e",
        testing_criteria=criteria,
        metadata=None,
        data_source_config=ds.eval_config({"type": "custom", "item_schema": SCHEMA}),
    )
    run = store.runs.insert(
        project_id,
        "org",
        ev.id,
        name="r",
        model=None,
        metadata=None,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": ROWS}},
        counters=Tally.empty(criteria).columns(),
    )
    return ev.id, run.id


def runner(store: EvalStore) -> JobRunner:
    work = RunWork(store.runs, cast(Any, None), cast(Any, None), cast(Any, None), 2)
    return JobRunner(store.sessions, work, lease_seconds=5, concurrency=2)


async def finished(store: EvalStore, project_id: str, eval_id: str, run_id: str) -> EvalRun:
    """The run once it left queued / in_progress (the runner running)."""
    jobs = runner(store)
    await jobs.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            run = store.runs.get(project_id, eval_id, run_id)
            assert run is not None
            if run.status not in ("queued", "in_progress"):
                return run
            assert time.monotonic() < deadline, "run stuck"
            await anyio.sleep(0.05)
    finally:
        await jobs.stop()


async def test_a_run_is_graded_to_the_end(store: tuple[EvalStore, str]) -> None:
    repos, project_id = store
    eval_id, run_id = new_run(repos, project_id)
    run = await finished(repos, project_id, eval_id, run_id)
    assert (run.status, run.error, run.lease_owner) == ("completed", None, None)
    assert run.result_counts == {"total": 3, "passed": 2, "failed": 1, "errored": 0}
    items = repos.output_items.page(run_id, PageParams(limit=10), status=None).items
    assert [(i.datasource_item_id, i.status) for i in items] == [
        (0, "pass"),
        (1, "fail"),
        (2, "pass"),
    ]


async def test_a_resumed_run_skips_graded_rows(store: tuple[EvalStore, str]) -> None:
    repos, project_id = store
    eval_id, run_id = new_run(repos, project_id)
    # a server claimed it, graded row 0, then died: its lease expires
    assert leases.claim_next(repos.sessions, EvalRun, ("queued",), 60) == (run_id, 1)
    assert repos.runs.begin(run_id) is not None
    assert repos.runs.write_item(
        run_id,
        eval_id,
        {"result_counts": {"total": 1, "passed": 1, "failed": 0, "errored": 0}},
        index=0,
        item={"answer": "4"},
        results=[],
        sample={"marker": True},
        status="pass",
    )
    with repos.sessions.begin() as session:
        session.execute(
            update(EvalRun).where(EvalRun.id == run_id).values(lease_expires_at=time.time() - 1)
        )
    run = await finished(repos, project_id, eval_id, run_id)
    assert run.status == "completed" and run.attempts == 2
    assert run.result_counts == {"total": 3, "passed": 2, "failed": 1, "errored": 0}
    items = repos.output_items.page(run_id, PageParams(limit=10), status=None).items
    assert sorted(i.datasource_item_id for i in items) == [0, 1, 2]
    assert next(i for i in items if i.datasource_item_id == 0).sample == {"marker": True}


async def test_a_run_interrupted_too_often_is_given_up(store: tuple[EvalStore, str]) -> None:
    repos, project_id = store
    eval_id, run_id = new_run(repos, project_id)
    with repos.sessions.begin() as session:  # claimed MAX_ATTEMPTS times, never finished
        session.execute(
            update(EvalRun)
            .where(EvalRun.id == run_id)
            .values(status="in_progress", attempts=MAX_ATTEMPTS)
        )
    run = await finished(repos, project_id, eval_id, run_id)
    assert (run.status, run.lease_owner, run.attempts) == ("failed", None, MAX_ATTEMPTS + 1)
    assert run.error == {
        "code": "too_many_attempts",
        "message": (
            f"The run was interrupted {MAX_ATTEMPTS} times (server stopped or crashed) and was "
            "given up."
        ),
    }
    assert repos.output_items.page(run_id, PageParams(), status=None).items == []
