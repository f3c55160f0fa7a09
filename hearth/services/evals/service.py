"""``client.evals`` (OpenAI API reference: Evals): create, list, retrieve, update and
delete evals, scoped to the caller's project (another project's eval is a 404); runs
are ``Evals.runs`` (``runs.py``), their output items ``Evals.runs.output_items``.

Objects are the SDK's types (``objects.py``):
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

from openai.types import (
    EvalCreateResponse,
    EvalDeleteResponse,
    EvalListResponse,
    EvalRetrieveResponse,
    EvalUpdateResponse,
)

from hearth.config import JobsSettings
from hearth.domain import CursorPage, PageParams, Principal
from hearth.jobs.bus import EventBus
from hearth.services.chat.completions import ChatCompletions
from hearth.services.chat.stored import StoredCompletions
from hearth.services.evals import data_sources as ds
from hearth.services.evals.common import check_model, eval_not_found, found_eval, one_of
from hearth.services.evals.graders import judge_models, validate_criteria
from hearth.services.evals.objects import eval_object
from hearth.services.evals.params import CreateEvalParams, UpdateEvalParams
from hearth.services.evals.runs import Runs
from hearth.services.files import Files
from hearth.store.evals import EvalStore


class Evals:
    """Evals CRUD; ``runs`` (with the background runner, ``start`` / ``stop``) and
    ``runs.output_items``. Methods are coroutines; database work runs on worker threads."""

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
        self._chat = chat
        self.runs = Runs(store, chat, files, stored, settings, bus)

    async def start(self) -> None:
        """Start the background runner of eval runs (resumes runs whose lease expired)."""
        await self.runs.start()

    async def stop(self) -> None:
        """Stop the runner; runs in progress keep their rows and resume on the next start."""
        await self.runs.stop()

    async def create(self, caller: Principal, params: CreateEvalParams) -> EvalCreateResponse:
        """A new eval. ``data_source_config`` is returned as ``{"type", "schema"}`` (the
        item schema wrapped as ``item``); each criterion gains an ``id``. Raises
        ``InvalidRequest`` (bad config, item schema or criterion; ``param`` names it) and
        ``ModelNotFound`` for a judge model that is not served."""
        config = await asyncio.to_thread(ds.eval_config, params.data_source_config)
        criteria = validate_criteria(params.testing_criteria)
        for model in judge_models(criteria):
            where = next(i for i, c in enumerate(criteria) if model in judge_models([c]))
            await check_model(self._chat, caller, model, f"testing_criteria[{where}].model")
        row = await asyncio.to_thread(
            self._evals.insert,
            caller.project_id,
            name=params.name,
            data_source_config=config,
            testing_criteria=criteria,
            metadata=params.metadata,
        )
        return eval_object(EvalCreateResponse, row)

    async def list(
        self, caller: Principal, page: PageParams, *, order_by: str = "created_at"
    ) -> CursorPage[EvalListResponse]:
        """The project's evals by ``order_by`` ``created_at`` (default) or ``updated_at``.
        ``InvalidRequest`` for another ``order_by`` or a bad cursor."""
        one_of(order_by, ("created_at", "updated_at"), "order_by")
        got = await asyncio.to_thread(self._evals.page, caller.project_id, page, order_by=order_by)
        return got.to(lambda r: eval_object(EvalListResponse, r))

    async def retrieve(self, caller: Principal, eval_id: str) -> EvalRetrieveResponse:
        """One eval; ``NotFound``."""
        row = await asyncio.to_thread(found_eval, self._evals, caller, eval_id)
        return eval_object(EvalRetrieveResponse, row)

    async def update(
        self, caller: Principal, eval_id: str, params: UpdateEvalParams
    ) -> EvalUpdateResponse:
        """Change ``name`` and/or ``metadata`` (null clears it); the updated eval;
        ``NotFound``."""
        values: dict[str, Any] = {}
        if "name" in params.model_fields_set and params.name is not None:
            values["name"] = params.name
        if "metadata" in params.model_fields_set:
            values["metadata_"] = params.metadata
        row = await asyncio.to_thread(self._evals.update, caller.project_id, eval_id, values)
        if row is None:
            raise eval_not_found(eval_id)
        return eval_object(EvalUpdateResponse, row)

    async def delete(self, caller: Principal, eval_id: str) -> EvalDeleteResponse:
        """Delete an eval with its runs and output items (runs in progress stop);
        ``{"object": "eval.deleted", "deleted": true, "eval_id"}``; ``NotFound``."""
        run_ids = await asyncio.to_thread(self._evals.delete, caller.project_id, eval_id)
        if run_ids is None:
            raise eval_not_found(eval_id)
        await self.runs.stop_runs(run_ids)
        return EvalDeleteResponse(object="eval.deleted", deleted=True, eval_id=eval_id)
