"""``JobRunner``: claims leased rows of one kind of work and executes them on the event
loop, renewing their leases while they run.

A row (a ``store.models.Leased`` table) is claimable when its status is one of the
work's ``statuses`` and its lease is free or expired. The runner claims the oldest,
up to ``concurrency`` at once, and runs ``work.run(id)`` with a renewal task beside it
(every ``lease_seconds / 3``). Three ways a run ends besides returning:

- the lease is lost (another server took it, the row was deleted): the run is cancelled
  and nothing more is written for it by this process;
- the server stops (``stop()``): the run is cancelled and its lease dropped at once, the
  claim not counted, so the next start resumes it without waiting for the lease to expire;
- the server is killed: nothing runs, the lease expires after ``lease_seconds`` and the
  next runner to look claims it again (``attempts`` + 1).

A row claimed more than ``max_attempts`` times (each a crash or kill mid-run) is handed
to ``work.give_up`` instead of run, so work that kills its server cannot loop forever;
``work.run`` raising is handed to ``work.fail``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from hearth.store import leases

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Claims of one row (the first run plus resumptions after a crash) before it fails."""
POLL_SECONDS = 1.0
"""How often an idle runner looks for claimable rows (expired leases, other servers)."""


class Work(Protocol):
    """One kind of durable background work."""

    name: str
    """For logs and task names, e.g. ``eval-run``."""
    table: Any
    """The ORM class of its rows (a ``store.models.Leased`` table with a ``status``)."""
    statuses: tuple[str, ...]
    """Statuses in which a row wants work (e.g. ``queued``, ``in_progress``)."""

    async def run(self, job_id: str) -> None:
        """Execute the claimed row to its end, writing its outcome and dropping its lease
        (``store.leases.release``). Cancellation means stop now, writing nothing more."""

    async def give_up(self, job_id: str, attempts: int) -> None:
        """Fail the row for good: it was claimed ``attempts`` times without finishing."""

    async def fail(self, job_id: str, error: Exception) -> None:
        """Fail the row because ``run`` raised ``error`` (a bug or a broken input)."""


class JobRunner:
    """Claims and executes the rows of one ``Work``; ``wake()`` after creating one."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        work: Work,
        *,
        lease_seconds: float,
        concurrency: int = 1,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._sessions = sessions
        self._work = work
        self._ttl = lease_seconds
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._claiming: asyncio.Task[None] | None = None
        self._active: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def start(self) -> None:
        """Start claiming on the running event loop."""
        if self._claiming is None:
            self._stopping = False
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()  # an Event binds to the first loop that waits on it
            self._claiming = asyncio.create_task(
                self._claim_loop(), name=f"{self._work.name}-runner"
            )

    async def stop(self) -> None:
        """Stop claiming and cancel every run in progress; their leases are dropped
        (the claim not counted) so the next start resumes them at once."""
        self._stopping = True
        tasks = [t for t in (self._claiming, *self._active.values()) if t is not None]
        self._claiming = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        """Look for work now (callable from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def cancel(self, job_id: str) -> None:
        """Stop executing ``job_id`` now if this runner has it (cancelled or deleted);
        its new status is the caller's to write. Call on the event loop."""
        task = self._active.get(job_id)
        if task is not None:
            task.cancel()

    @property
    def active(self) -> list[str]:
        """Ids of the rows this runner is executing now."""
        return list(self._active)

    async def _claim_loop(self) -> None:
        # not ``while True``: on Python 3.11 ``wait_for`` can swallow the stop's cancel
        # when the wake event is set at the same moment
        while not self._stopping:
            self._wake.clear()
            try:
                while len(self._active) < self._concurrency:
                    claimed = await asyncio.to_thread(
                        leases.claim_next,
                        self._sessions,
                        self._work.table,
                        self._work.statuses,
                        self._ttl,
                    )
                    if claimed is None:
                        break
                    job_id, attempts = claimed
                    self._active[job_id] = asyncio.create_task(
                        self._execute(job_id, attempts), name=f"{self._work.name}-{job_id}"
                    )
            except Exception:  # e.g. the database is busy: try again at the next poll
                log.exception("claiming %s rows failed", self._work.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _execute(self, job_id: str, attempts: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        renewer = asyncio.create_task(self._renew(job_id, task))
        try:
            if attempts > self._max_attempts:
                await self._work.give_up(job_id, attempts)
            else:
                await self._work.run(job_id)
        except asyncio.CancelledError:
            if self._stopping:  # a clean stop: resume at once, not counted as a crash
                leases.release(
                    self._sessions, self._work.table, job_id, attempts=self._work.table.attempts - 1
                )
            raise
        except Exception as exc:
            log.exception("%s %s failed", self._work.name, job_id)
            with contextlib.suppress(Exception):
                await self._work.fail(job_id, exc)
        finally:
            renewer.cancel()
            self._active.pop(job_id, None)
            self._wake.set()

    async def _renew(self, job_id: str, run: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                held = await asyncio.to_thread(
                    leases.renew, self._sessions, self._work.table, job_id, self._ttl
                )
            except Exception:  # e.g. the database is busy: the next renewal may work
                log.exception("renewing the lease of %s %s failed", self._work.name, job_id)
                continue
            if not held:
                log.warning("%s %s: lease lost, stopping", self._work.name, job_id)
                run.cancel()
                return
