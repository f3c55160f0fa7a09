"""``client.evals``, ``client.evals.runs`` and ``client.evals.runs.output_items``
(OpenAI API reference: Evals). Everything is scoped to one project: another project's
eval, run or output item is a 404. Runs execute in the background (``runs.Runner``).

Objects (OpenAI JSON):
* ``Eval`` ``{"object": "eval", "id": "eval_...", "name", "data_source_config",
  "testing_criteria" (each with its ``id``), "metadata", "created_at"}``.
* ``EvalRun`` ``{"object": "eval.run", "id": "evalrun_...", "eval_id", "name", "model",
  "status", "data_source" (as sent), "metadata", "result_counts", "per_model_usage",
  "per_testing_criteria_results", "error", "report_url", "created_at"}``.
* ``EvalRunOutputItem`` ``{"object": "eval.run.output_item", "id": "outputitem_...",
  "run_id", "eval_id", "status": "pass" | "fail" | "error", "datasource_item_id",
  "datasource_item", "results", "sample", "created_at"}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Settings
from hearth.errors import InvalidRequest, ModelNotFound, NotFound
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.metadata import Metadata
from hearth.services.chat.stored import StoredCompletions
from hearth.services.evals import data_sources as ds
from hearth.services.evals.graders import judge_models, validate_criteria
from hearth.services.evals.runs import RunExecutor, Runner, Tally
from hearth.services.evals.samples import run_plan
from hearth.services.files import Files
from hearth.store.ids import new_id
from hearth.store.models import Eval, EvalOutputItem, EvalRun, next_seq, now_unix
from hearth.store.pages import Order, Page, check_limit, list_body, paginate

RUN_STATUSES = ("queued", "in_progress", "completed", "canceled", "failed")
ITEM_STATUSES = ("pass", "fail", "error")


class CreateEvalParams(BaseModel):
    """Body of ``POST /v1/evals``."""

    model_config = ConfigDict(extra="allow")

    data_source_config: dict[str, Any]
    testing_criteria: list[dict[str, Any]]
    name: str | None = None
    metadata: Metadata = None


class UpdateEvalParams(BaseModel):
    """Body of ``POST /v1/evals/{eval_id}``: only ``name`` and ``metadata`` change."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    metadata: Metadata = None


class CreateRunParams(BaseModel):
    """Body of ``POST /v1/evals/{eval_id}/runs``."""

    model_config = ConfigDict(extra="allow")

    data_source: dict[str, Any]
    name: str | None = None
    metadata: Metadata = None


def _eval_object(row: Eval) -> dict[str, Any]:
    return {"object": "eval", "id": row.id, "name": row.name,
            "data_source_config": row.data_source_config,
            "testing_criteria": row.testing_criteria, "metadata": row.metadata_,
            "created_at": row.created_at}


def _run_object(row: EvalRun) -> dict[str, Any]:
    return {"object": "eval.run", "id": row.id, "eval_id": row.eval_id, "name": row.name,
            "model": row.model, "status": row.status, "data_source": row.data_source,
            "metadata": row.metadata_, "result_counts": row.result_counts,
            "per_model_usage": row.per_model_usage,
            "per_testing_criteria_results": row.per_testing_criteria_results,
            "error": row.error, "report_url": "", "created_at": row.created_at}


def _item_object(row: EvalOutputItem) -> dict[str, Any]:
    return {"object": "eval.run.output_item", "id": row.id, "run_id": row.run_id,
            "eval_id": row.eval_id, "status": row.status,
            "datasource_item_id": row.datasource_item_id,
            "datasource_item": row.datasource_item, "results": row.results,
            "sample": row.sample, "created_at": row.created_at}


def _one_of(value: str | None, allowed: tuple[str, ...], param: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidRequest(f"Invalid value for '{param}': {value!r}. Supported values are: "
                             + ", ".join(f"'{a}'" for a in allowed) + ".", param=param,
                             code="invalid_value")


class Evals:
    """Evals CRUD, run creation, and the background runner of queued runs. Methods are
    coroutines; database work runs on worker threads."""

    def __init__(self, sessions: sessionmaker[Session], chat: ChatCompletions, files: Files,
                 stored: StoredCompletions, settings: Settings) -> None:
        self._sessions = sessions
        self._chat = chat
        self._files = files
        self._stored = stored
        self._settings = settings
        self._runner = Runner(sessions, settings,
                              RunExecutor(sessions, chat, files, stored, settings))

    async def start(self) -> None:
        """Start the background runner (resumes runs whose lease expired)."""
        await self._runner.start()

    async def stop(self) -> None:
        """Stop the runner; runs in progress keep their rows and resume on next start."""
        await self._runner.stop()

    # --- evals ---------------------------------------------------------------------------

    async def create(self, project_id: str, organization_id: str,
                     params: CreateEvalParams) -> dict[str, Any]:
        """A new ``Eval``. ``data_source_config`` is returned as ``{"type", "schema"}``
        (the item schema wrapped as ``item``); each criterion gains an ``id``. Raises
        ``InvalidRequest`` (bad config, item schema or criterion; ``param`` names it) and
        ``ModelNotFound`` for a judge model that is not served."""
        config = ds.eval_config(params.data_source_config)
        criteria = validate_criteria(params.testing_criteria)
        for model in judge_models(criteria):
            where = next(i for i, c in enumerate(criteria) if model in judge_models([c]))
            await self._check_model(model, organization_id, f"testing_criteria[{where}].model")
        now = now_unix()
        row = Eval(id=new_id("eval_"), project_id=project_id, data_source_config=config,
                   testing_criteria=criteria, metadata_=params.metadata, created_at=now,
                   updated_at=now, seq=next_seq())
        row.name = params.name if params.name is not None else row.id
        return await asyncio.to_thread(self._insert, row, _eval_object)

    async def list(self, project_id: str, *, after: str | None = None, limit: int = 20,
                   order: Order = "asc", order_by: str = "created_at") -> dict[str, Any]:
        """The project's evals, ``order_by`` ``created_at`` (default) or ``updated_at``;
        ``limit`` 1..100. ``InvalidRequest`` for bad paging parameters."""
        check_limit(limit)
        _one_of(order_by, ("created_at", "updated_at"), "order_by")

        def page() -> dict[str, Any]:
            with self._sessions() as session:
                stmt = select(Eval).where(Eval.project_id == project_id)
                if order_by == "updated_at":
                    got = _by_updated(session, stmt, after, limit, order)
                else:
                    got = paginate(session, stmt, Eval, after=after, limit=limit, order=order)
                return list_body([_eval_object(r) for r in got.items], got.has_more)
        return await asyncio.to_thread(page)

    async def retrieve(self, project_id: str, eval_id: str) -> dict[str, Any]:
        """One ``Eval``; ``NotFound``."""
        return await asyncio.to_thread(self._read, lambda s: _eval_object(
            self._eval(s, project_id, eval_id)))

    async def update(self, project_id: str, eval_id: str,
                     params: UpdateEvalParams) -> dict[str, Any]:
        """Change ``name`` and/or ``metadata`` (null clears it); the updated ``Eval``."""
        def change() -> dict[str, Any]:
            with self._sessions.begin() as session:
                row = self._eval(session, project_id, eval_id)
                if "name" in params.model_fields_set and params.name is not None:
                    row.name = params.name
                if "metadata" in params.model_fields_set:
                    row.metadata_ = params.metadata
                row.updated_at = now_unix()
                return _eval_object(row)
        return await asyncio.to_thread(change)

    async def delete(self, project_id: str, eval_id: str) -> dict[str, Any]:
        """Delete an eval with its runs and output items (runs in progress stop);
        ``{"object": "eval.deleted", "deleted": true, "eval_id"}``."""
        def remove() -> list[str]:
            with self._sessions.begin() as session:
                row = self._eval(session, project_id, eval_id)
                runs = list(session.scalars(select(EvalRun.id)
                                            .where(EvalRun.eval_id == eval_id)))
                session.delete(row)
                return runs
        for run_id in await asyncio.to_thread(remove):
            self._runner.cancel(run_id)
        return {"object": "eval.deleted", "deleted": True, "eval_id": eval_id}

    # --- runs ----------------------------------------------------------------------------

    async def create_run(self, project_id: str, organization_id: str, eval_id: str,
                         params: CreateRunParams) -> dict[str, Any]:
        """A new ``EvalRun``, ``queued``; the runner starts it at once. Checked first:
        the data source's shape, its rows against the eval's item schema (a 400 naming
        the row or file line), the file (404 / wrong purpose) and the model (404)."""
        ev = await self.retrieve(project_id, eval_id)
        plan = run_plan(params.data_source)
        rows: list[ds.Row] | None = None
        if isinstance(plan.source, ds.FileContentSource):
            rows = ds.content_rows(plan.source, "data_source.source")
        elif isinstance(plan.source, ds.FileIdSource):
            param = "data_source.source.id"
            _, data = await asyncio.to_thread(self._files.read, project_id, plan.source.id,
                                              purposes=ds.FILE_PURPOSES, param=param)
            rows = ds.file_rows(data, plan.source.id, param)
        if rows is not None:
            ds.check_items(rows, ds.item_schema(ev["data_source_config"]))
        if plan.model is not None:
            await self._check_model(plan.model, organization_id, "model")
        tally = Tally.empty(ev["testing_criteria"])
        row = EvalRun(id=new_id("evalrun_"), eval_id=eval_id, project_id=project_id,
                      organization_id=organization_id, model=plan.model, status="queued",
                      name=params.name or plan.model or params.data_source["type"],
                      data_source=params.data_source, metadata_=params.metadata,
                      created_at=now_unix(), seq=next_seq(), **tally.columns())
        created = await asyncio.to_thread(self._insert, row, _run_object)
        self._runner.wake()
        return created

    async def list_runs(self, project_id: str, eval_id: str, *, after: str | None = None,
                        limit: int = 20, order: Order = "asc",
                        status: str | None = None) -> dict[str, Any]:
        """The eval's runs, optionally only those with ``status``."""
        check_limit(limit)
        _one_of(status, RUN_STATUSES, "status")

        def page() -> dict[str, Any]:
            with self._sessions() as session:
                self._eval(session, project_id, eval_id)
                stmt = select(EvalRun).where(EvalRun.eval_id == eval_id)
                if status is not None:
                    stmt = stmt.where(EvalRun.status == status)
                got = paginate(session, stmt, EvalRun, after=after, limit=limit, order=order)
                return list_body([_run_object(r) for r in got.items], got.has_more)
        return await asyncio.to_thread(page)

    async def retrieve_run(self, project_id: str, eval_id: str, run_id: str) -> dict[str, Any]:
        """One ``EvalRun``; ``NotFound``."""
        return await asyncio.to_thread(self._read, lambda s: _run_object(
            self._run(s, project_id, eval_id, run_id)))

    async def cancel_run(self, project_id: str, eval_id: str, run_id: str) -> dict[str, Any]:
        """Cancel a queued or in-progress run (output items written so far stay); the
        ``EvalRun``, ``canceled``. Canceling a canceled run returns it; a completed or
        failed one is an ``InvalidRequest``."""
        def change() -> dict[str, Any]:
            with self._sessions.begin() as session:
                session.execute(  # compare-and-set: a run finishing meanwhile stays finished
                    update(EvalRun).where(EvalRun.id == run_id, EvalRun.eval_id == eval_id,
                                          EvalRun.project_id == project_id,
                                          EvalRun.status.in_(("queued", "in_progress")))
                    .values(status="canceled"))
                row = self._run(session, project_id, eval_id, run_id)
                if row.status in ("completed", "failed"):
                    raise InvalidRequest(f"Run {run_id} is already {row.status} and cannot be "
                                         "canceled.", param="run_id", code="run_not_active")
                return _run_object(row)
        run = await asyncio.to_thread(change)
        self._runner.cancel(run_id)
        return run

    async def delete_run(self, project_id: str, eval_id: str, run_id: str) -> dict[str, Any]:
        """Delete a run and its output items (stopping it if it is running);
        ``{"object": "eval.run.deleted", "deleted": true, "run_id"}``."""
        def remove() -> None:
            with self._sessions.begin() as session:
                session.delete(self._run(session, project_id, eval_id, run_id))
        await asyncio.to_thread(remove)
        self._runner.cancel(run_id)
        return {"object": "eval.run.deleted", "deleted": True, "run_id": run_id}

    # --- output items ----------------------------------------------------------------------

    async def list_output_items(self, project_id: str, eval_id: str, run_id: str, *,
                                after: str | None = None, limit: int = 20,
                                order: Order = "asc", status: str | None = None,
                                ) -> dict[str, Any]:
        """The run's output items in the order they were graded, optionally only
        ``status`` ``pass`` / ``fail`` (or Hearth's ``error``)."""
        check_limit(limit)
        _one_of(status, ITEM_STATUSES, "status")

        def page() -> dict[str, Any]:
            with self._sessions() as session:
                self._run(session, project_id, eval_id, run_id)
                stmt = select(EvalOutputItem).where(EvalOutputItem.run_id == run_id)
                if status is not None:
                    stmt = stmt.where(EvalOutputItem.status == status)
                got = paginate(session, stmt, EvalOutputItem, after=after, limit=limit,
                               order=order)
                return list_body([_item_object(r) for r in got.items], got.has_more)
        return await asyncio.to_thread(page)

    async def retrieve_output_item(self, project_id: str, eval_id: str, run_id: str,
                                   output_item_id: str) -> dict[str, Any]:
        """One output item; ``NotFound``."""
        def read(session: Session) -> dict[str, Any]:
            self._run(session, project_id, eval_id, run_id)
            row = session.get(EvalOutputItem, output_item_id)
            if row is None or row.run_id != run_id:
                raise NotFound(f"No output item found with id '{output_item_id}'.",
                               param="output_item_id")
            return _item_object(row)
        return await asyncio.to_thread(self._read, read)

    # --- helpers ---------------------------------------------------------------------------

    async def _check_model(self, model: str, organization_id: str, param: str) -> None:
        try:  # the registry loads a fine-tuned model here; it is about to be used anyway
            await self._chat.check_model(model, organization_id)
        except ModelNotFound as exc:
            raise ModelNotFound(exc.message, param=param) from None

    def _insert(self, row: Any, shape: Any) -> dict[str, Any]:
        with self._sessions.begin() as session:
            session.add(row)
            session.flush()
            return shape(row)  # type: ignore[no-any-return]

    def _read(self, read: Any) -> dict[str, Any]:
        with self._sessions() as session:
            return read(session)  # type: ignore[no-any-return]

    @staticmethod
    def _eval(session: Session, project_id: str, eval_id: str) -> Eval:
        row = session.get(Eval, eval_id)
        if row is None or row.project_id != project_id:
            raise NotFound(f"No eval found with id '{eval_id}'.", param="eval_id")
        return row

    @staticmethod
    def _run(session: Session, project_id: str, eval_id: str, run_id: str) -> EvalRun:
        row = session.get(EvalRun, run_id)
        if row is None or row.project_id != project_id or row.eval_id != eval_id:
            raise NotFound(f"No eval run found with id '{run_id}' in eval '{eval_id}'.",
                           param="run_id")
        return row


def _by_updated(session: Session, stmt: Any, after: str | None, limit: int,
                order: Order) -> Page[Eval]:
    """``paginate`` by ``(updated_at, seq)`` instead of ``seq`` alone."""
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid 'order': expected 'asc' or 'desc', got {order!r}.",
                             param="order")
    if after is not None:
        anchor = session.execute(stmt.with_only_columns(Eval.updated_at, Eval.seq)
                                 .where(Eval.id == after)).first()
        if anchor is None:
            raise InvalidRequest(f"No such object for 'after': {after!r}.", param="after")
        updated, seq = anchor
        if order == "asc":
            stmt = stmt.where(or_(Eval.updated_at > updated,
                                  and_(Eval.updated_at == updated, Eval.seq > seq)))
        else:
            stmt = stmt.where(or_(Eval.updated_at < updated,
                                  and_(Eval.updated_at == updated, Eval.seq < seq)))
    keys = (Eval.updated_at, Eval.seq)
    stmt = stmt.order_by(*(k.asc() if order == "asc" else k.desc() for k in keys))
    rows = list(session.scalars(stmt.limit(limit + 1)))
    return Page(rows[:limit], len(rows) > limit)
