"""Eval runs executed in the background, durably (docs/evals.md).

A run is a row moving ``queued -> in_progress -> completed | failed | canceled``. The
``Runner`` task on the serving event loop claims runs with a lease
(``hearth.store.leases``), renews it every ``lease_seconds / 3`` and hands each claimed run
to ``RunExecutor``. The executor grades the rows ``eval_concurrency`` at a time and writes
every output item the moment it is graded, together with the run's counters, in one
transaction that only succeeds while the run is still ``in_progress`` under this lease: a
cancel, a delete or a lost lease stops the run at its next item. A server killed mid-run
stops renewing; once the lease expires, the next server (or this one, restarted) claims
the run again and grades only the rows without an output item (unique per run and row).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Settings
from hearth.errors import HearthError
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.stored import StoredCompletions
from hearth.services.evals import data_sources as ds
from hearth.services.evals import samples
from hearth.services.evals.graders import GraderResult, grade
from hearth.services.files import Files
from hearth.store.ids import new_id
from hearth.store.leases import OWNER, claim_next, release, renew
from hearth.store.models import Eval, EvalOutputItem, EvalRun, next_seq, now_unix

log = logging.getLogger(__name__)

ACTIVE = ("queued", "in_progress")
MAX_ACTIVE_RUNS = 2
"""Runs executed at once by one server (each grades ``eval_concurrency`` rows at once)."""
MAX_ATTEMPTS = 5
"""A run claimed this many times without finishing (each claim after a crash) fails,
so a run that kills its server cannot loop forever."""
POLL_SECONDS = 1.0
"""How often an idle runner looks for runs to claim (expired leases, other servers)."""


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
        return cls({"total": 0, "passed": 0, "failed": 0, "errored": 0},
                   [{"testing_criteria": c["id"], "passed": 0, "failed": 0} for c in criteria])

    @classmethod
    def of(cls, run: EvalRun, criteria: list[dict[str, Any]]) -> Tally:
        """The counters stored on ``run`` (zeros where it has none yet)."""
        fresh = cls.empty(criteria)
        return cls({**fresh.counts, **(run.result_counts or {})},
                   run.per_testing_criteria_results or fresh.criteria,
                   {u["model_name"]: {k: v for k, v in u.items() if k != "model_name"}
                    for u in run.per_model_usage or []})

    def add(self, status: str, results: list[GraderResult],
            usage: dict[str, dict[str, int]]) -> None:
        """Count one graded row (its ``results`` in criteria order)."""
        self.counts["total"] += 1
        self.counts[{"pass": "passed", "fail": "failed"}.get(status, "errored")] += 1
        for entry, result in zip(self.criteria, results, strict=False):
            entry["passed" if result.passed else "failed"] += 1
        samples.merge_usage(self.usage, usage)

    def columns(self) -> dict[str, Any]:
        """The run row's column values."""
        return {"result_counts": dict(self.counts),
                "per_testing_criteria_results": [dict(c) for c in self.criteria],
                "per_model_usage": [{"model_name": m, **u} for m, u in self.usage.items()]}


# --- one run --------------------------------------------------------------------------------


@dataclass
class _Job:
    run_id: str
    eval_id: str
    project_id: str
    organization_id: str
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


class RunExecutor:
    """Executes one claimed run to its end (``__call__``)."""

    def __init__(self, sessions: sessionmaker[Session], chat: ChatCompletions, files: Files,
                 stored: StoredCompletions, settings: Settings) -> None:
        self._sessions = sessions
        self._chat = chat
        self._files = files
        self._stored = stored
        self._settings = settings

    async def __call__(self, run_id: str) -> None:
        """Grade the run's remaining rows and finish it; the run must be leased by this
        process. Cancellation (stop, cancel, lost lease) drops the lease and leaves the
        status as it is, so a stopped server's run resumes on the next claim."""
        job = await asyncio.to_thread(self._begin, run_id)
        if job is None:
            return
        try:
            rows = await self._rows(job)
            await self._grade_all(job, [(i, r) for i, r in enumerate(rows)
                                        if i not in job.done])
            await asyncio.to_thread(self._finish, job, "completed", None)
        except RunStopped:
            await asyncio.to_thread(release, self._sessions, EvalRun, run_id)
        except asyncio.CancelledError:  # quick, so done inline: the task is going away
            # a stopping server hands the run back; that claim was no failed attempt
            release(self._sessions, EvalRun, run_id, attempts=EvalRun.attempts - 1)
            raise
        except HearthError as exc:
            await asyncio.to_thread(self._finish, job, "failed", samples.error_of(exc))
        except Exception as exc:
            log.exception("eval run %s failed", run_id)
            await asyncio.to_thread(self._finish, job, "failed",
                                    {"code": "server_error", "message": str(exc)})

    def _begin(self, run_id: str) -> _Job | None:
        """Mark the leased run in progress; its job, or None if there is nothing to do."""
        with self._sessions.begin() as session:
            run = session.get(EvalRun, run_id)
            if run is None or run.lease_owner != OWNER:
                return None
            ev = session.get(Eval, run.eval_id)
            if ev is None or run.status not in ACTIVE or run.attempts > MAX_ATTEMPTS:
                if ev is not None and run.status in ACTIVE:
                    run.status, run.error = "failed", {
                        "code": "too_many_attempts",
                        "message": f"The run was interrupted {run.attempts - 1} times "
                                   "(server stopped or crashed) and was given up."}
                run.lease_owner, run.lease_expires_at = None, None
                return None
            run.status = "in_progress"
            done = set(session.scalars(select(EvalOutputItem.datasource_item_id)
                                       .where(EvalOutputItem.run_id == run_id)))
            return _Job(run.id, run.eval_id, run.project_id, run.organization_id,
                        run.created_at, ev.data_source_config, ev.testing_criteria,
                        samples.run_plan(run.data_source), Tally.of(run, ev.testing_criteria),
                        done)

    async def _rows(self, job: _Job) -> list[ds.Row]:
        source = job.plan.source
        if isinstance(source, ds.FileContentSource):
            return ds.content_rows(source, "data_source.source")
        if isinstance(source, ds.FileIdSource):
            _, data = await asyncio.to_thread(
                self._files.read, job.project_id, source.id, purposes=ds.FILE_PURPOSES,
                param="data_source.source.id")
            return ds.file_rows(data, source.id, "data_source.source.id")
        metadata = source.metadata
        if metadata is None and job.config["type"] != "custom":
            metadata = job.config.get("metadata")
        # completions stored after the run was created stay out, so a resumed run sees
        # the same rows in the same order
        before = job.created_at if source.created_before is None else min(
            source.created_before, job.created_at)
        records = await asyncio.to_thread(
            self._stored.select, job.project_id, metadata=metadata, model=source.model,
            created_after=source.created_after, created_before=before, limit=source.limit)
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

        workers = min(self._settings.eval_concurrency, len(pending))
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
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
                completion = (await self._chat.create(params, job.organization_id)
                              ).model_dump(mode="json")
            except Exception as exc:  # the row errs, the run goes on
                error = samples.error_of(exc)
                sample = samples.output_sample(messages, None, sampling, model=plan.model,
                                               error=error)
            else:
                namespace = samples.namespace(completion, plan.sampling.response_format)
                sample = samples.output_sample(messages, completion, sampling,
                                               model=plan.model)
                samples.add_usage(usage, completion["model"], samples.usage_of(completion))
        elif row.stored is not None:
            request, response = row.stored["request"], row.stored["response"]
            namespace = samples.namespace(response, request.get("response_format"))
            sample = samples.output_sample(request.get("messages", []), response, request,
                                           model=response.get("model", ""))
        else:
            namespace = row.sample or {}
            sample = samples.given_sample(row.sample)
        results: list[GraderResult] = []
        if error is None:
            judge = samples.ChatJudge(self._chat, job.organization_id)
            results = [await grade(c, row.item, namespace, judge) for c in job.criteria]
            samples.merge_usage(usage, judge.usage)
        if error is not None or any(r.error for r in results):
            status = "error"
        else:
            status = "pass" if all(r.passed for r in results) else "fail"
        return _Graded(index, row.item, results, sample, status, usage)

    def _write(self, job: _Job, graded: _Graded) -> None:
        with self._sessions.begin() as session:
            done = session.execute(
                update(EvalRun).where(EvalRun.id == job.run_id, EvalRun.lease_owner == OWNER,
                                      EvalRun.status == "in_progress")
                .values(**job.tally.columns()))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise RunStopped(job.run_id)
            session.add(EvalOutputItem(
                id=new_id("outputitem_"), run_id=job.run_id, eval_id=job.eval_id,
                datasource_item_id=graded.index, datasource_item=graded.item,
                results=[r.result_dict() for r in graded.results], sample=graded.sample,
                status=graded.status, created_at=now_unix(), seq=next_seq()))

    def _finish(self, job: _Job, status: str, error: dict[str, str] | None) -> None:
        log.info("eval run %s %s: %s", job.run_id, status, error or job.tally.counts)
        with self._sessions.begin() as session:
            session.execute(
                update(EvalRun).where(EvalRun.id == job.run_id, EvalRun.lease_owner == OWNER,
                                      EvalRun.status == "in_progress")
                .values(status=status, error=error, lease_owner=None, lease_expires_at=None))
        release(self._sessions, EvalRun, job.run_id)  # canceled meanwhile: just the lease


# --- the runner -----------------------------------------------------------------------------


class Runner:
    """Claims runs (queued, or in progress with an expired lease) and executes up to
    ``MAX_ACTIVE_RUNS`` of them at once, renewing their leases."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 execute: Callable[[str], Awaitable[None]]) -> None:
        self._sessions = sessions
        self._ttl = settings.lease_seconds
        self._execute = execute
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._active: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        """Start claiming (on the running event loop)."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="eval-runner")

    def wake(self) -> None:
        """Look for work now (a run was just created)."""
        self._wake.set()

    def cancel(self, run_id: str) -> None:
        """Stop executing ``run_id`` now if this runner has it (canceled or deleted)."""
        task = self._active.get(run_id)
        if task is not None:
            task.cancel()

    async def stop(self) -> None:
        """Stop claiming and stop every run in progress; their leases are dropped so the
        next start resumes them at once."""
        tasks = [t for t in (self._loop_task, *self._active.values()) if t is not None]
        self._loop_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                while len(self._active) < MAX_ACTIVE_RUNS:
                    claimed = await asyncio.to_thread(claim_next, self._sessions, EvalRun,
                                                      ACTIVE, self._ttl)
                    if claimed is None:
                        break
                    run_id = claimed[0]
                    self._active[run_id] = asyncio.create_task(self._work(run_id),
                                                               name=f"eval-run-{run_id}")
            except Exception:  # e.g. the database is busy: try again at the next poll
                log.exception("claiming eval runs failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _work(self, run_id: str) -> None:
        work = asyncio.current_task()
        assert work is not None
        renewer = asyncio.create_task(self._renew(run_id, work))
        try:
            await self._execute(run_id)
        except Exception:
            log.exception("eval run %s crashed", run_id)
        finally:
            renewer.cancel()
            self._active.pop(run_id, None)
            self._wake.set()

    async def _renew(self, run_id: str, work: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                held = await asyncio.to_thread(renew, self._sessions, EvalRun, run_id,
                                               self._ttl)
            except Exception:  # e.g. the database is busy: the next renewal may work
                log.exception("renewing the lease of eval run %s failed", run_id)
                continue
            if not held:
                work.cancel()  # another server holds it now, or it was deleted
                return
