"""The ``evals``, ``eval_runs`` and ``eval_output_items`` tables (``client.evals``,
``client.evals.runs``, ``client.evals.runs.output_items``).

Reads are scoped to a project: another project's eval or run is None, like a missing one.
A run's executor (``services/evals/executor.py``) writes through ``RunRepository`` only
while the run is ``in_progress`` under this process's lease (``store.leases.OWNER``), each
output item together with the run's counters in one transaction, so a cancel, a delete or
a lost lease stops it at its next write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hearth.domain import Page, PageParams
from hearth.errors import InvalidRequest
from hearth.store.ids import new_id
from hearth.store.leases import OWNER
from hearth.store.models import Eval, EvalOutputItem, EvalRun, next_seq, now_unix
from hearth.store.pages import paginate

ACTIVE = ("queued", "in_progress")
"""Statuses of a run that wants work (the runner claims these)."""


class EvalRepository:
    """Insert, page, get, update and delete ``Eval`` rows."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def insert(
        self,
        project_id: str,
        *,
        name: str | None,
        data_source_config: dict[str, Any],
        testing_criteria: list[dict[str, Any]],
        metadata: dict[str, str] | None,
    ) -> Eval:
        """A new eval (id ``eval_<24 alnum>``, named by its id when ``name`` is None)."""
        now = now_unix()
        eval_id = new_id("eval_")
        row = Eval(
            id=eval_id,
            project_id=project_id,
            name=eval_id if name is None else name,
            data_source_config=data_source_config,
            testing_criteria=testing_criteria,
            metadata_=metadata,
            created_at=now,
            updated_at=now,
            seq=next_seq(),
        )
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def page(self, project_id: str, page: PageParams, *, order_by: str) -> Page[Eval]:
        """One page of the project's evals by creation (``order_by`` ``created_at``) or by
        last change (``updated_at``, ties in creation order). ``InvalidRequest`` for a
        cursor that is not one of them."""
        stmt = select(Eval).where(Eval.project_id == project_id)
        with self._sessions() as session:
            if order_by == "updated_at":
                return _by_updated(session, stmt, page)
            return paginate(session, stmt, Eval, page)

    def get(self, project_id: str, eval_id: str) -> Eval | None:
        """The project's eval ``eval_id``; None if there is none."""
        with self._sessions() as session:
            return _eval(session, project_id, eval_id)

    def update(self, project_id: str, eval_id: str, values: dict[str, Any]) -> Eval | None:
        """Set column ``values`` (``name``, ``metadata_``) and ``updated_at``; the updated
        row, or None if the project has no such eval."""
        with self._sessions.begin() as session:
            row = _eval(session, project_id, eval_id)
            if row is None:
                return None
            for column, value in values.items():
                setattr(row, column, value)
            row.updated_at = now_unix()
        return row

    def delete(self, project_id: str, eval_id: str) -> list[str] | None:
        """Delete the eval with its runs and their output items; the ids of the runs it
        had (to stop those in progress), or None if the project has no such eval."""
        with self._sessions.begin() as session:
            if _eval(session, project_id, eval_id) is None:
                return None
            runs = list(session.scalars(select(EvalRun.id).where(EvalRun.eval_id == eval_id)))
            session.execute(delete(Eval).where(Eval.id == eval_id))
        return runs


class RunRepository:
    """``EvalRun`` rows: the API's insert, page, get, cancel and delete, and the writes of
    the executor of a run leased by this process (``begin``, ``write_item``, ``finish``,
    ``release``, ``give_up``)."""

    table = EvalRun
    """The leased table (``hearth.jobs.Work.table``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def insert(
        self,
        project_id: str,
        organization_id: str,
        eval_id: str,
        *,
        name: str,
        model: str | None,
        data_source: dict[str, Any],
        metadata: dict[str, str] | None,
        counters: dict[str, Any],
    ) -> EvalRun:
        """A new ``queued`` run (id ``evalrun_<24 alnum>``); ``counters``: the
        ``result_counts``, ``per_testing_criteria_results`` and ``per_model_usage``
        columns."""
        row = EvalRun(
            id=new_id("evalrun_"),
            eval_id=eval_id,
            project_id=project_id,
            organization_id=organization_id,
            name=name,
            model=model,
            status="queued",
            data_source=data_source,
            metadata_=metadata,
            error=None,
            created_at=now_unix(),
            seq=next_seq(),
            attempts=0,
            **counters,
        )
        with self._sessions.begin() as session:
            session.add(row)
        return row

    def page(
        self, project_id: str, eval_id: str, page: PageParams, *, status: str | None
    ) -> Page[EvalRun]:
        """One page of the eval's runs, only those with ``status`` when given."""
        stmt = select(EvalRun).where(EvalRun.project_id == project_id, EvalRun.eval_id == eval_id)
        if status is not None:
            stmt = stmt.where(EvalRun.status == status)
        with self._sessions() as session:
            return paginate(session, stmt, EvalRun, page)

    def get(self, project_id: str, eval_id: str, run_id: str) -> EvalRun | None:
        """The project's run ``run_id`` of eval ``eval_id``; None if there is none."""
        with self._sessions() as session:
            return _run(session, project_id, eval_id, run_id)

    def cancel(self, project_id: str, eval_id: str, run_id: str) -> EvalRun | None:
        """Cancel the run if it is queued or in progress (its lease dropped, so its
        executor's next write fails); the run as it is then (a run that finished
        meanwhile stays finished), or None if there is none."""
        with self._sessions.begin() as session:
            session.execute(
                update(EvalRun)
                .where(
                    EvalRun.id == run_id,
                    EvalRun.eval_id == eval_id,
                    EvalRun.project_id == project_id,
                    EvalRun.status.in_(ACTIVE),
                )
                .values(status="canceled", lease_owner=None, lease_expires_at=None)
            )
            return _run(session, project_id, eval_id, run_id)

    def delete(self, project_id: str, eval_id: str, run_id: str) -> bool:
        """Delete the run and its output items; False if there is none."""
        with self._sessions.begin() as session:
            done = session.execute(
                delete(EvalRun).where(
                    EvalRun.id == run_id,
                    EvalRun.eval_id == eval_id,
                    EvalRun.project_id == project_id,
                )
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]

    # --- the executor's writes (the run leased by this process) --------------------------

    def begin(self, run_id: str) -> tuple[EvalRun, Eval, set[int]] | None:
        """Mark the run leased by this process ``in_progress``: the run, its eval and the
        ``datasource_item_id`` of every row already graded (a resumed run skips them).
        None when there is nothing to do (not leased here, finished, or its eval gone;
        the lease is dropped then)."""
        with self._sessions.begin() as session:
            run = session.get(EvalRun, run_id)
            if run is None or run.lease_owner != OWNER:
                return None
            ev = session.get(Eval, run.eval_id)
            if ev is None or run.status not in ACTIVE:
                run.lease_owner, run.lease_expires_at = None, None
                return None
            run.status = "in_progress"
            done = set(
                session.scalars(
                    select(EvalOutputItem.datasource_item_id).where(EvalOutputItem.run_id == run_id)
                )
            )
            return run, ev, done

    def write_item(
        self,
        run_id: str,
        eval_id: str,
        counters: dict[str, Any],
        *,
        index: int,
        item: dict[str, Any],
        results: list[dict[str, Any]],
        sample: dict[str, Any],
        status: str,
    ) -> bool:
        """Add the output item of data source row ``index`` and set the run's
        ``counters``, in one transaction; False (nothing written) unless the run is still
        ``in_progress`` under this process's lease."""
        with self._sessions.begin() as session:
            done = session.execute(
                update(EvalRun)
                .where(
                    EvalRun.id == run_id,
                    EvalRun.lease_owner == OWNER,
                    EvalRun.status == "in_progress",
                )
                .values(**counters)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return False
            session.add(
                EvalOutputItem(
                    id=new_id("outputitem_"),
                    run_id=run_id,
                    eval_id=eval_id,
                    datasource_item_id=index,
                    datasource_item=item,
                    results=results,
                    sample=sample,
                    status=status,
                    created_at=now_unix(),
                    seq=next_seq(),
                )
            )
        return True

    def finish(self, run_id: str, status: str, error: dict[str, str] | None) -> None:
        """End the run with ``status`` (``completed`` / ``failed``) and ``error`` if it is
        still in progress under this process's lease, and drop the lease in any case
        (a run canceled meanwhile keeps its status)."""
        with self._sessions.begin() as session:
            session.execute(
                update(EvalRun)
                .where(
                    EvalRun.id == run_id,
                    EvalRun.lease_owner == OWNER,
                    EvalRun.status == "in_progress",
                )
                .values(status=status, error=error)
            )
            _drop_lease(session, run_id)

    def give_up(self, run_id: str, error: dict[str, str]) -> None:
        """Fail the run with ``error`` if it still wants work, and drop this process's
        lease."""
        with self._sessions.begin() as session:
            session.execute(
                update(EvalRun)
                .where(
                    EvalRun.id == run_id, EvalRun.lease_owner == OWNER, EvalRun.status.in_(ACTIVE)
                )
                .values(status="failed", error=error)
            )
            _drop_lease(session, run_id)

    def release(self, run_id: str) -> None:
        """Drop this process's lease on the run, its status as it is."""
        with self._sessions.begin() as session:
            _drop_lease(session, run_id)


class OutputItemRepository:
    """Page and get a run's ``EvalOutputItem`` rows (the executor writes them through
    ``RunRepository.write_item``)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def page(
        self,
        run_id: str,
        page: PageParams,
        *,
        status: str | None,
    ) -> Page[EvalOutputItem]:
        """One page of the run's output items in grading order, only those with
        ``status`` when given."""
        stmt = select(EvalOutputItem).where(EvalOutputItem.run_id == run_id)
        if status is not None:
            stmt = stmt.where(EvalOutputItem.status == status)
        with self._sessions() as session:
            return paginate(session, stmt, EvalOutputItem, page)

    def get(self, run_id: str, output_item_id: str) -> EvalOutputItem | None:
        """The run's output item ``output_item_id``; None if there is none."""
        with self._sessions() as session:
            return session.scalar(
                select(EvalOutputItem).where(
                    EvalOutputItem.id == output_item_id, EvalOutputItem.run_id == run_id
                )
            )


class EvalStore:
    """The three repositories over one database (and its ``sessions``, for the runner's
    leases)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.evals = EvalRepository(sessions)
        self.runs = RunRepository(sessions)
        self.output_items = OutputItemRepository(sessions)


def _eval(session: Session, project_id: str, eval_id: str) -> Eval | None:
    return session.scalar(select(Eval).where(Eval.id == eval_id, Eval.project_id == project_id))


def _run(session: Session, project_id: str, eval_id: str, run_id: str) -> EvalRun | None:
    return session.scalar(
        select(EvalRun).where(
            EvalRun.id == run_id, EvalRun.eval_id == eval_id, EvalRun.project_id == project_id
        )
    )


def _drop_lease(session: Session, run_id: str) -> None:
    session.execute(
        update(EvalRun)
        .where(EvalRun.id == run_id, EvalRun.lease_owner == OWNER)
        .values(lease_owner=None, lease_expires_at=None)
    )


def _by_updated(session: Session, stmt: Select[Any], page: PageParams) -> Page[Eval]:
    """``paginate`` by ``(updated_at, seq)`` instead of ``seq`` alone (an update moves an
    eval to the end of the ``asc`` order)."""
    ascending = page.order == "asc"
    for param, cursor in (("after", page.after), ("before", page.before)):
        if cursor is None:
            continue
        anchor = session.execute(
            stmt.with_only_columns(Eval.updated_at, Eval.seq).where(Eval.id == cursor)
        ).first()
        if anchor is None:
            raise InvalidRequest(f"No such object for '{param}': {cursor!r}.", param=param)
        updated, seq = anchor
        later = or_(Eval.updated_at > updated, and_(Eval.updated_at == updated, Eval.seq > seq))
        earlier = or_(Eval.updated_at < updated, and_(Eval.updated_at == updated, Eval.seq < seq))
        stmt = stmt.where(later if (param == "after") == ascending else earlier)
    backwards = page.before is not None and page.after is None
    forward = ascending != backwards  # the page before a cursor is read backwards
    keys = (Eval.updated_at, Eval.seq)
    stmt = stmt.order_by(*(k.asc() if forward else k.desc() for k in keys))
    rows = list(session.scalars(stmt.limit(page.limit + 1)))
    items = rows[: page.limit]
    return Page(items[::-1] if backwards else items, len(rows) > page.limit)
