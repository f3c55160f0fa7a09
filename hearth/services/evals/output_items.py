"""``client.evals.runs.output_items`` (OpenAI API reference: Evals > Output items): a
run's graded samples, one per data source row, in the order they were graded."""

from __future__ import annotations

import asyncio

from openai.types.evals.runs import OutputItemListResponse, OutputItemRetrieveResponse

from hearth.domain import CursorPage, PageParams, Principal
from hearth.errors import NotFound
from hearth.services.evals.common import found_run, one_of
from hearth.services.evals.objects import output_item_object
from hearth.store.evals import EvalStore

ITEM_STATUSES = ("pass", "fail", "error")


class OutputItems:
    """Read a run's output items (the executor writes them)."""

    def __init__(self, store: EvalStore) -> None:
        self._runs = store.runs
        self._items = store.output_items

    async def list(
        self,
        caller: Principal,
        eval_id: str,
        run_id: str,
        page: PageParams,
        *,
        status: str | None = None,
    ) -> CursorPage[OutputItemListResponse]:
        """The run's output items, only ``status`` ``pass`` / ``fail`` (or Hearth's
        ``error``) when given. ``InvalidRequest`` for another status or a bad cursor;
        ``NotFound`` for another project's run."""
        one_of(status, ITEM_STATUSES, "status")

        def rows() -> CursorPage[OutputItemListResponse]:
            found_run(self._runs, caller, eval_id, run_id)
            got = self._items.page(run_id, page, status=status)
            return got.to(lambda r: output_item_object(OutputItemListResponse, r))

        return await asyncio.to_thread(rows)

    async def retrieve(
        self, caller: Principal, eval_id: str, run_id: str, output_item_id: str
    ) -> OutputItemRetrieveResponse:
        """One output item; ``NotFound`` (``param`` ``run_id`` or ``output_item_id``)."""

        def row() -> OutputItemRetrieveResponse:
            found_run(self._runs, caller, eval_id, run_id)
            got = self._items.get(run_id, output_item_id)
            if got is None:
                raise NotFound(
                    f"No output item found with id '{output_item_id}'.", param="output_item_id"
                )
            return output_item_object(OutputItemRetrieveResponse, got)

        return await asyncio.to_thread(row)
