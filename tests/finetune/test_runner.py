"""The fine-tuning ``Work`` on the one ``JobRunner``, with the real worker process but no
training: a job claimed too often fails, a worker's ``error`` event fails the job (parsed
with the contract's models), ``cancel`` stops a running worker, and a lost lease or a
server stop stops the worker without writing an outcome."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import update

from hearth.config import JobsSettings
from hearth.domain import PageParams
from hearth.finetune.spec import JobSpec, write_spec
from hearth.jobs import JobRunner
from hearth.services.files import Files
from hearth.services.fine_tuning.runner import Training, job_dir
from hearth.store.db import create_db_engine, migrate, session_factory
from hearth.store.fine_tuning import FineTuningStore
from hearth.store.models import FineTuningJob
from tests.conftest import add_project, database_url_for

pytestmark = pytest.mark.anyio

LEASE_S = 1.5
_ALL = PageParams(100, "desc")


@dataclass
class Rig:
    store: FineTuningStore
    runner: JobRunner
    data_dir: Path
    project_id: str
    organization_id: str

    def job(self, job_id: str) -> FineTuningJob:
        row = self.store.job(None, job_id)
        assert row is not None
        return row

    def add(self, spec: JobSpec | None = None, attempts: int = 0) -> str:
        """A queued job whose folder holds ``spec`` (none: an empty folder)."""
        job = self.store.insert_job(
            project_id=self.project_id,
            organization_id=self.organization_id,
            model="base",
            fine_tuned_model="ft:base:org::x",
            status="queued",
            training_file="file-x",
            seed=1,
            method={"type": "supervised", "supervised": {"hyperparameters": {}}},
            attempts=attempts,
        )
        folder = job_dir(self.data_dir, job.id)
        folder.mkdir(parents=True)
        if spec is not None:
            write_spec(folder, spec)
        return job.id

    def messages(self, job_id: str) -> list[str]:
        return [e.message for e in self.store.events(job_id, _ALL).items]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = create_db_engine(database_url_for(tmp_path) or f"sqlite:///{tmp_path / 'hearth.db'}")
    migrate(db)
    sessions = session_factory(db)
    org_id, project_id = add_project(sessions)
    ids = project_id, org_id
    store = FineTuningStore(sessions)
    jobs = JobsSettings(tmp_path, tmp_path / "models", LEASE_S, 1, 1, 10)
    # only a succeeded job writes a results file, and none succeeds here
    runner = JobRunner(sessions, Training(store, cast(Files, None), jobs), lease_seconds=LEASE_S)
    await runner.start()
    try:
        yield Rig(store, runner, tmp_path, *ids)
    finally:
        await runner.stop()
        db.dispose()


async def until(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def workers(job_id: str) -> list[int]:
    """Pids of worker processes training ``job_id``."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"hearth.finetune.worker" in cmdline and any(
            a.endswith(job_id.encode()) for a in cmdline
        ):
            found.append(int(pid))
    return found


def slow_spec(tmp_path: Path) -> JobSpec:
    """A valid spec whose worker takes many seconds before its first event (it loads the
    whole base model from a missing cache)."""
    from hearth.engine.weights import bundled_chat_model

    return JobSpec(
        base_gguf=bundled_chat_model().path,
        method="supervised",
        base_cache=tmp_path / "no-cache",
        threads=1,
    )


async def test_a_job_claimed_too_often_fails_without_running(rig: Rig) -> None:
    job_id = rig.add(attempts=3)
    rig.runner.wake()
    await until(lambda: rig.job(job_id).status == "failed")
    job = rig.job(job_id)
    assert job.error == {
        "code": "training_failed",
        "param": None,
        "message": "The job stopped 3 times before finishing (server restarts or worker crashes).",
    }
    assert job.lease_owner is None and job.finished_at is not None
    assert rig.messages(job_id)[0].startswith("Job failed: The job stopped 3 times")


async def test_a_worker_error_event_fails_the_job(rig: Rig) -> None:
    job_id = rig.add()  # no spec.json: the worker's first event is an error
    rig.runner.wake()
    await until(lambda: rig.job(job_id).status == "failed")
    job = rig.job(job_id)
    assert job.error is not None and job.error["code"] == "training_failed"
    assert "spec.json" in job.error["message"] and job.lease_owner is None
    assert rig.messages(job_id)[-1] == "Fine-tuning job started"
    assert not workers(job_id)


async def test_cancel_stops_a_running_worker(rig: Rig, tmp_path: Path) -> None:
    job_id = rig.add(slow_spec(tmp_path))
    rig.runner.wake()
    await until(lambda: bool(workers(job_id)))
    assert rig.job(job_id).status == "running"
    assert rig.store.update_job(job_id, where_status=("running",), control="cancel")
    await until(lambda: rig.job(job_id).status == "cancelled", timeout=30)
    job = rig.job(job_id)
    assert job.control is None and job.lease_owner is None and job.finished_at
    assert rig.messages(job_id)[0] == "Fine-tuning job cancelled"
    await until(lambda: not workers(job_id), timeout=15)


async def test_a_lost_lease_stops_the_worker_and_writes_nothing(rig: Rig, tmp_path: Path) -> None:
    job_id = rig.add(slow_spec(tmp_path))
    rig.runner.wake()
    await until(lambda: bool(workers(job_id)))
    with rig.store.sessions.begin() as s:  # another server took it over
        s.execute(
            update(FineTuningJob)
            .where(FineTuningJob.id == job_id)
            .values(lease_owner="another-server", lease_expires_at=time.time() + 3600)
        )
    await until(lambda: not rig.runner.active, timeout=30)
    await until(lambda: not workers(job_id), timeout=15)
    job = rig.job(job_id)
    assert (job.status, job.lease_owner, job.error) == ("running", "another-server", None)
    assert rig.messages(job_id)[0] == "Fine-tuning job started"


async def test_a_server_stop_stops_the_worker_and_frees_the_job(rig: Rig, tmp_path: Path) -> None:
    job_id = rig.add(slow_spec(tmp_path))
    rig.runner.wake()
    await until(lambda: bool(workers(job_id)))
    await rig.runner.stop()
    assert not workers(job_id)
    job = rig.job(job_id)
    # resumable at once by the next start, and the stop is not counted as a crash
    assert (job.status, job.lease_owner, job.attempts) == ("running", None, 0)
