"""``client.evals.runs`` (OpenAI API reference: Evals > Runs): create, list, retrieve,
cancel and delete an eval's runs, scoped to the caller's project. A created run is
``queued``; the background runner (``hearth.jobs.JobRunner`` over ``executor.RunWork``)
executes it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from openai.types.evals import (
    RunCancelResponse,
    RunCreateResponse,
    RunDeleteResponse,
    RunListResponse,
    RunRetrieveResponse,
)

from hearth.config import JobsSettings
from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import InvalidRequest
from hearth.jobs import JobRunner
from hearth.jobs.bus import EventBus
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.stored import StoredCompletions
from hearth.services.evals import data_sources as ds
from hearth.services.evals.common import (
    check_model,
    found_eval,
    found_run,
    one_of,
    run_not_found,
)
from hearth.services.evals.executor import RunWork, Tally
from hearth.services.evals.objects import run_object
from hearth.services.evals.output_items import OutputItems
from hearth.services.evals.params import CreateRunParams
from hearth.services.evals.samples import run_plan
from hearth.services.files import Files
from hearth.store.evals import EvalStore

RUN_STATUSES = ("queued", "in_progress", "completed", "canceled", "failed")
MAX_ACTIVE_RUNS = 2
"""Runs executed at once by one server (each grades ``eval_concurrency`` rows at once)."""


class Runs:
    """An eval's runs and the runner that executes them (``start`` / ``stop``)."""

    def __init__(
        self,
        store: EvalStore,
        chat: ChatCompletions,
        files: Files,
        stored: StoredCompletions,
        settings: JobsSettings,
        bus: EventBus,
    ) -> None:
        self._evals = store.evals
        self._runs = store.runs
        self._bus = bus
        self._chat = chat
        self._files = files
        self.output_items = OutputItems(store)
        self._runner = JobRunner(
            store.sessions,
            RunWork(store.runs, chat, files, stored, settings.eval_concurrency),
            lease_seconds=settings.lease_seconds,
            concurrency=MAX_ACTIVE_RUNS,
        )
        bus.on_signal(RunWork.name, self._runner.cancel)

    async def start(self) -> None:
        """Start the runner (resumes runs whose lease expired)."""
        await self._runner.start()

    async def stop(self) -> None:
        """Stop the runner; runs in progress keep their rows and resume on the next start."""
        await self._runner.stop()

    async def stop_runs(self, run_ids: Iterable[str]) -> None:
        """Stop executing these runs now, on whichever replica runs them (deleted with
        their eval)."""
        for run_id in run_ids:
            await self._bus.signal(RunWork.name, run_id)

    async def create(
        self, caller: Principal, eval_id: str, params: CreateRunParams
    ) -> RunCreateResponse:
        """A new run, ``queued``; the runner starts it at once. Checked first: the data
        source's shape (400 naming its ``param``), its rows against the eval's item schema
        (a 400 naming the row or file line), the file (404 / wrong purpose) and the model
        (404). ``NotFound`` for another project's eval."""
        ev = await asyncio.to_thread(found_eval, self._evals, caller, eval_id)
        plan = run_plan(params.data_source)
        rows: list[ds.Row] | None = None
        if isinstance(plan.source, ds.FileContentSource):
            rows = ds.content_rows(plan.source, "data_source.source")
        elif isinstance(plan.source, ds.FileIdSource):
            param = "data_source.source.id"
            _, data = await self._files.read(
                caller, plan.source.id, purposes=ds.FILE_PURPOSES, param=param
            )
            rows = await asyncio.to_thread(ds.file_rows, data, plan.source.id, param)
        if rows is not None:  # a client's schema and items: off the event loop
            await asyncio.to_thread(ds.check_items, rows, ds.item_schema(ev.data_source_config))
        if plan.model is not None:
            await check_model(self._chat, caller, plan.model, "model")
        row = await asyncio.to_thread(
            self._runs.insert,
            caller.project_id,
            caller.organization_id,
            eval_id,
            name=params.name or plan.model or params.data_source["type"],
            model=plan.model,
            data_source=params.data_source,
            metadata=params.metadata,
            counters=Tally.empty(ev.testing_criteria).columns(),
        )
        self._runner.wake()
        return run_object(RunCreateResponse, row)

    async def list(
        self, caller: Principal, eval_id: str, page: PageParams, *, status: str | None = None
    ) -> CursorPage[RunListResponse]:
        """The eval's runs, only those with ``status`` (``queued`` | ``in_progress`` |
        ``completed`` | ``canceled`` | ``failed``) when given. ``InvalidRequest`` for
        another status or a bad cursor; ``NotFound`` for another project's eval."""
        one_of(status, RUN_STATUSES, "status")

        def rows() -> CursorPage[RunListResponse]:
            found_eval(self._evals, caller, eval_id)
            got = self._runs.page(caller.project_id, eval_id, page, status=status)
            return got.to(lambda r: run_object(RunListResponse, r))

        return await asyncio.to_thread(rows)

    async def retrieve(self, caller: Principal, eval_id: str, run_id: str) -> RunRetrieveResponse:
        """One run; ``NotFound``."""
        row = await asyncio.to_thread(found_run, self._runs, caller, eval_id, run_id)
        return run_object(RunRetrieveResponse, row)

    async def cancel(self, caller: Principal, eval_id: str, run_id: str) -> RunCancelResponse:
        """Cancel a queued or in-progress run (output items written so far stay); the run,
        ``canceled``. Canceling a canceled run returns it; a completed or failed one is an
        ``InvalidRequest`` (``run_not_active``); ``NotFound``."""
        row = await asyncio.to_thread(self._runs.cancel, caller.project_id, eval_id, run_id)
        if row is None:
            raise run_not_found(eval_id, run_id)
        if row.status in ("completed", "failed"):
            raise InvalidRequest(
                f"Run {run_id} is already {row.status} and cannot be canceled.",
                param="run_id",
                code="run_not_active",
            )
        await self._bus.signal(RunWork.name, run_id)
        return run_object(RunCancelResponse, row)

    async def delete(self, caller: Principal, eval_id: str, run_id: str) -> RunDeleteResponse:
        """Delete a run and its output items (stopping it if it is running);
        ``{"object": "eval.run.deleted", "deleted": true, "run_id"}``; ``NotFound``."""
        deleted = await asyncio.to_thread(self._runs.delete, caller.project_id, eval_id, run_id)
        if not deleted:
            raise run_not_found(eval_id, run_id)
        await self._bus.signal(RunWork.name, run_id)
        return RunDeleteResponse(object="eval.run.deleted", deleted=True, run_id=run_id)
