"""Eval runs executed in the background, durably (docs/evals.md): ``RunWork``, the
``hearth.jobs.Work`` of eval runs.

A run is a row moving ``queued -> in_progress -> completed | failed | canceled``. The
one ``JobRunner`` claims it under a lease, renews the lease and calls ``RunWork.run``,
which grades the rows ``eval_concurrency`` at a time and writes every output item the
moment it is graded, together with the run's counters, in one transaction that only
succeeds while the run is still ``in_progress`` under this lease
(``RunRepository.write_item``): a cancel, a delete or a lost lease stops the run at its
next item. A server killed mid-run stops renewing; once the lease expires, the next
server (or this one, restarted) claims the run again and grades only the rows without an
output item (unique per run and row). A run claimed more than ``MAX_ATTEMPTS`` times
fails (``give_up``).

Background work acts for the run's project: ``Principal.for_project``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from hearth.domain import Principal
from hearth.errors import HearthError
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.stored import StoredCompletions
from hearth.services.evals import data_sources as ds
from hearth.services.evals import samples
from hearth.services.evals.graders import GraderResult, grade
from hearth.services.files import Files
from hearth.store.evals import ACTIVE, RunRepository
from hearth.store.models import EvalRun

log = logging.getLogger(__name__)


class RunStopped(Exception):
    """The run was canceled or deleted, or this server lost its lease: stop, write nothing."""


# --- counters -------------------------------------------------------------------------------


@dataclass
class Tally:
    """A run's counters, as stored on its row: ``result_counts``,
    ``per_testing_criteria_results`` (one per criterion id, in order), ``per_model_usage``."""

    counts: dict[str, int]
    criteria: list[dict[str, Any]]
    usage: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def empty(cls, criteria: list[dict[str, Any]]) -> Tally:
        """Zeros for a new run of an eval with ``criteria``."""
        return cls(
            {"total": 0, "passed": 0, "failed": 0, "errored": 0},
            [{"testing_criteria": c["id"], "passed": 0, "failed": 0} for c in criteria],
        )

    @classmethod
    def of(cls, run: EvalRun, criteria: list[dict[str, Any]]) -> Tally:
        """The counters stored on ``run`` (zeros where it has none yet)."""
        fresh = cls.empty(criteria)
        return cls(
            {**fresh.counts, **(run.result_counts or {})},
            run.per_testing_criteria_results or fresh.criteria,
            {
                u["model_name"]: {k: v for k, v in u.items() if k != "model_name"}
                for u in run.per_model_usage or []
            },
        )

    def add(
        self, status: str, results: list[GraderResult], usage: dict[str, dict[str, int]]
    ) -> None:
        """Count one graded row (its ``results`` in criteria order)."""
        self.counts["total"] += 1
        self.counts[{"pass": "passed", "fail": "failed"}.get(status, "errored")] += 1
        for entry, result in zip(self.criteria, results, strict=False):
            entry["passed" if result.passed else "failed"] += 1
        samples.merge_usage(self.usage, usage)

    def columns(self) -> dict[str, Any]:
        """The run row's column values."""
        return {
            "result_counts": dict(self.counts),
            "per_testing_criteria_results": [dict(c) for c in self.criteria],
            "per_model_usage": [{"model_name": m, **u} for m, u in self.usage.items()],
        }


# --- one run --------------------------------------------------------------------------------


@dataclass
class _Job:
    run_id: str
    eval_id: str
    caller: Principal
    created_at: int
    config: dict[str, Any]
    criteria: list[dict[str, Any]]
    plan: samples.RunPlan
    tally: Tally
    done: set[int]


@dataclass
class _Graded:
    index: int
    item: dict[str, Any]
    results: list[GraderResult]
    sample: dict[str, Any]
    status: str
    usage: dict[str, dict[str, int]]


class RunWork:
    """Eval runs as ``hearth.jobs.Work``: ``run`` executes one claimed run to its end."""

    name = "eval-run"
    table = EvalRun
    statuses: tuple[str, ...] = ACTIVE

    def __init__(
        self,
        runs: RunRepository,
        chat: ChatCompletions,
        files: Files,
        stored: StoredCompletions,
        concurrency: int,
    ) -> None:
        self._runs = runs
        self._chat = chat
        self._files = files
        self._stored = stored
        self._concurrency = concurrency

    async def run(self, job_id: str) -> None:
        """Grade the run's remaining rows and finish it (``completed``, or ``failed`` with
        the error that stopped it); the run must be leased by this process. Stopped by a
        cancel, a delete or a lost lease, it writes nothing more and keeps its status."""
        job = await asyncio.to_thread(self._begin, job_id)
        if job is None:
            return
        try:
            rows = await self._rows(job)
            await self._grade_all(job, [(i, r) for i, r in enumerate(rows) if i not in job.done])
            await asyncio.to_thread(self._finish, job, "completed", None)
        except RunStopped:
            await asyncio.to_thread(self._runs.release, job_id)
        except HearthError as exc:
            await asyncio.to_thread(self._finish, job, "failed", samples.error_of(exc))
        except Exception as exc:
            log.exception("eval run %s failed", job_id)
            await asyncio.to_thread(
                self._finish, job, "failed", {"code": "server_error", "message": str(exc)}
            )

    async def give_up(self, job_id: str, attempts: int) -> None:
        """Fail the run (``too_many_attempts``): it was interrupted too often."""
        await asyncio.to_thread(
            self._runs.give_up,
            job_id,
            {
                "code": "too_many_attempts",
                "message": f"The run was interrupted {attempts - 1} times (server stopped or "
                "crashed) and was given up.",
            },
        )

    async def fail(self, job_id: str, error: Exception) -> None:
        """Fail the run because executing it raised ``error``."""
        await asyncio.to_thread(
            self._runs.finish, job_id, "failed", {"code": "server_error", "message": str(error)}
        )

    def _begin(self, run_id: str) -> _Job | None:
        begun = self._runs.begin(run_id)
        if begun is None:
            return None
        run, ev, done = begun
        return _Job(
            run.id,
            run.eval_id,
            Principal.for_project(run.organization_id, run.project_id),
            run.created_at,
            ev.data_source_config,
            ev.testing_criteria,
            samples.run_plan(run.data_source),
            Tally.of(run, ev.testing_criteria),
            done,
        )

    async def _rows(self, job: _Job) -> list[ds.Row]:
        source = job.plan.source
        if isinstance(source, ds.FileContentSource):
            return ds.content_rows(source, "data_source.source")
        if isinstance(source, ds.FileIdSource):
            _, data = await self._files.read(
                job.caller, source.id, purposes=ds.FILE_PURPOSES, param="data_source.source.id"
            )
            return await asyncio.to_thread(ds.file_rows, data, source.id, "data_source.source.id")
        metadata = source.metadata
        if metadata is None and job.config["type"] != "custom":
            metadata = job.config.get("metadata")
        # completions stored after the run was created stay out, so a resumed run sees
        # the same rows in the same order
        before = (
            job.created_at
            if source.created_before is None
            else min(source.created_before, job.created_at)
        )
        records = await self._stored.select(
            job.caller,
            metadata=metadata,
            model=source.model,
            created_after=source.created_after,
            created_before=before,
            limit=source.limit,
        )
        return ds.stored_rows(records)

    async def _grade_all(self, job: _Job, pending: list[tuple[int, ds.Row]]) -> None:
        queue = iter(pending)
        lock = asyncio.Lock()

        async def worker() -> None:
            for index, row in queue:
                graded = await self._grade_row(job, index, row)
                async with lock:  # counters and rows are written in order, one at a time
                    job.tally.add(graded.status, graded.results, graded.usage)
                    await asyncio.to_thread(self._write, job, graded)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self._concurrency, len(pending))):
                    group.create_task(worker())
        except BaseExceptionGroup as group_error:
            raise group_error.exceptions[0] from None

    async def _grade_row(self, job: _Job, index: int, row: ds.Row) -> _Graded:
        plan = job.plan
        usage: dict[str, dict[str, int]] = {}
        error: dict[str, str] | None = None
        namespace: dict[str, Any] = {}
        if plan.model is not None and plan.input_messages is not None:
            assert plan.sampling is not None
            sampling = plan.sampling.model_dump(exclude_none=True)
            messages: list[dict[str, Any]] = []
            try:
                messages = samples.build_messages(plan.input_messages, row.item)
                params = samples.chat_params(plan.model, messages, plan.sampling)
                completion = (await self._chat.create(job.caller, params)).model_dump(mode="json")
            except Exception as exc:  # the row errs, the run goes on
                error = samples.error_of(exc)
                sample = samples.output_sample(
                    messages, None, sampling, model=plan.model, error=error
                )
            else:
                namespace = samples.namespace(completion, plan.sampling.response_format)
                sample = samples.output_sample(messages, completion, sampling, model=plan.model)
                samples.add_usage(usage, completion["model"], samples.usage_of(completion))
        elif row.stored is not None:
            request, response = row.stored["request"], row.stored["response"]
            namespace = samples.namespace(response, request.get("response_format"))
            sample = samples.output_sample(
                request.get("messages", []), response, request, model=response.get("model", "")
            )
        else:
            namespace = row.sample or {}
            sample = samples.given_sample(row.sample)
        results: list[GraderResult] = []
        if error is None:
            judge = samples.ChatJudge(self._chat, job.caller)
            results = [await grade(c, row.item, namespace, judge) for c in job.criteria]
            samples.merge_usage(usage, judge.usage)
        if error is not None or any(r.error for r in results):
            status = "error"
        else:
            status = "pass" if all(r.passed for r in results) else "fail"
        return _Graded(index, row.item, results, sample, status, usage)

    def _write(self, job: _Job, graded: _Graded) -> None:
        written = self._runs.write_item(
            job.run_id,
            job.eval_id,
            job.tally.columns(),
            index=graded.index,
            item=graded.item,
            results=[r.result_dict() for r in graded.results],
            sample=graded.sample,
            status=graded.status,
        )
        if not written:
            raise RunStopped(job.run_id)

    def _finish(self, job: _Job, status: str, error: dict[str, str] | None) -> None:
        log.info("eval run %s %s: %s", job.run_id, status, error or job.tally.counts)
        self._runs.finish(job.run_id, status, error)
