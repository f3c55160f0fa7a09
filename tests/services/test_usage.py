"""Usage reports over a real SQLite file: buckets on UTC boundaries, filters, grouping,
pagination by ``next_page``, costs from a price table, and the meter's batched writes
(records of a deleted project dropped, the rest kept)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai.types.admin.organization.usage_completions_response import (
    UsageCompletionsResponse,
)
from openai.types.admin.organization.usage_costs_response import UsageCostsResponse
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from hearth.config import Price
from hearth.domain import Principal
from hearth.errors import InvalidRequest
from hearth.services.usage import UsageMeter, UsageQuery, UsageReports
from hearth.store.db import create_db_engine, migrate, session_factory
from hearth.store.models import Project, UsageRecord
from hearth.store.usage import UsageRepository
from tests.conftest import add_project, new_database

pytestmark = pytest.mark.anyio

DAY = 86_400
T0 = 1_767_225_600  # 2026-01-01 00:00:00 UTC


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A migrated database of each backend in turn (the bucket SQL differs by dialect)."""
    url = f"sqlite:///{tmp_path / 'hearth.db'}"
    if request.param == "postgresql":
        url = new_database(request.getfixturevalue("postgres"), "usage")
    db = create_db_engine(url)
    migrate(db)
    yield session_factory(db)
    db.dispose()


def put(sessions: sessionmaker[Session], caller: Principal, at: int, **values: object) -> None:
    """A record written as the meter writes one, at unix time ``at``."""
    row = {
        "organization_id": caller.organization_id,
        "project_id": caller.project_id,
        "api_key_id": caller.api_key_id or None,
        "kind": "completions",
        "model": "m1",
        "batch": False,
        "created_at": at,
        **values,
    }
    UsageRepository(sessions).add([row])


def reports(
    sessions: sessionmaker[Session], now: int, prices: dict[str, Price] | None = None
) -> tuple[UsageReports, UsageMeter]:
    repo = UsageRepository(sessions)
    meter = UsageMeter(repo, flush_seconds=3600)
    return UsageReports(repo, meter, prices or {"*": Price()}, Clock(now)), meter


async def test_buckets_start_on_utc_days_and_sum_each_day(
    sessions: sessionmaker[Session],
) -> None:
    org, project = add_project(sessions)
    caller = Principal(org, project, "key_a")
    put(sessions, caller, T0 + 10, input_tokens=100, output_tokens=7, input_cached_tokens=0)
    put(sessions, caller, T0 + 20, input_tokens=2048, output_tokens=3, input_cached_tokens=1024)
    put(sessions, caller, T0 + DAY + 5, input_tokens=5, output_tokens=1)
    put(sessions, caller, T0 + DAY + 6, kind="embeddings", input_tokens=999)
    usage, meter = reports(sessions, T0 + 3 * DAY - 10)
    try:
        page = await usage.usage(org, "completions", UsageQuery(start_time=T0 + 5))
    finally:
        meter.close()
    UsageCompletionsResponse.model_validate(page)
    assert [(b["start_time"], b["end_time"]) for b in page["data"]] == [
        (T0, T0 + DAY),
        (T0 + DAY, T0 + 2 * DAY),
        (T0 + 2 * DAY, T0 + 3 * DAY),
    ]
    first, second, third = (b["results"] for b in page["data"])
    assert len(first) == 1
    assert first[0]["input_tokens"] == 2148
    assert first[0]["input_cached_tokens"] == 1024
    assert first[0]["input_uncached_tokens"] == 1124
    assert first[0]["output_tokens"] == 10
    assert first[0]["num_model_requests"] == 2
    assert first[0]["model"] is None and first[0]["project_id"] is None
    assert second[0]["input_tokens"] == 5 and second[0]["num_model_requests"] == 1
    assert third == []
    assert page["has_more"] is False and page["next_page"] is None


async def test_start_time_is_inclusive_and_end_time_exclusive(
    sessions: sessionmaker[Session],
) -> None:
    org, project = add_project(sessions)
    caller = Principal(org, project, "key_a")
    for at in (T0 + 99, T0 + 100, T0 + 199, T0 + 200):
        put(sessions, caller, at, input_tokens=1)
    usage, meter = reports(sessions, T0 + DAY)
    try:
        page = await usage.usage(
            org, "completions", UsageQuery(start_time=T0 + 100, end_time=T0 + 200)
        )
    finally:
        meter.close()
    assert page["data"][0]["results"][0]["num_model_requests"] == 2


async def test_group_by_and_filters(sessions: sessionmaker[Session]) -> None:
    org, project = add_project(sessions)
    with sessions.begin() as s:
        other = Project(organization_id=org, name="Other")
        s.add(other)
        s.flush()
        other_id = other.id
    a, b = Principal(org, project, "key_a"), Principal(org, other_id, "key_b")
    put(sessions, a, T0 + 1, input_tokens=10, model="m1")
    put(sessions, a, T0 + 2, input_tokens=20, model="m2")
    put(sessions, b, T0 + 3, input_tokens=40, model="m1")
    usage, meter = reports(sessions, T0 + DAY)
    try:
        grouped = await usage.usage(
            org, "completions", UsageQuery(start_time=T0, group_by=["project_id", "model"])
        )
        only_b = await usage.usage(
            org, "completions", UsageQuery(start_time=T0, api_key_ids=["key_b"])
        )
        only_m2 = await usage.usage(org, "completions", UsageQuery(start_time=T0, models=["m2"]))
        with pytest.raises(InvalidRequest) as bad:
            await usage.usage(org, "embeddings", UsageQuery(start_time=T0, group_by=["batch"]))
    finally:
        meter.close()
    got = {(r["project_id"], r["model"]): r["input_tokens"] for r in grouped["data"][0]["results"]}
    assert got == {(project, "m1"): 10, (project, "m2"): 20, (other_id, "m1"): 40}
    assert only_b["data"][0]["results"][0]["input_tokens"] == 40
    assert only_m2["data"][0]["results"][0]["input_tokens"] == 20
    assert bad.value.param == "group_by"


async def test_another_organization_sees_none_of_it(sessions: sessionmaker[Session]) -> None:
    org, project = add_project(sessions)
    other_org, _ = add_project(sessions, "Other org")
    put(sessions, Principal(org, project, "key_a"), T0 + 1, input_tokens=10)
    usage, meter = reports(sessions, T0 + DAY)
    try:
        page = await usage.usage(other_org, "completions", UsageQuery(start_time=T0))
    finally:
        meter.close()
    assert page["data"][0]["results"] == []


async def test_next_page_walks_every_bucket_once(sessions: sessionmaker[Session]) -> None:
    org, project = add_project(sessions)
    caller = Principal(org, project, "key_a")
    for minute in range(5):
        put(sessions, caller, T0 + minute * 60 + 1, input_tokens=minute + 1)
    usage, meter = reports(sessions, T0 + 5 * 60 - 1)
    seen: list[tuple[int, int]] = []
    query = UsageQuery(start_time=T0, bucket_width="1m", limit=2)
    try:
        while True:
            page = await usage.usage(org, "completions", query)
            seen += [(b["start_time"], b["results"][0]["input_tokens"]) for b in page["data"]]
            if not page["has_more"]:
                break
            query = query.model_copy(update={"page": page["next_page"]})
        with pytest.raises(InvalidRequest) as bad:
            await usage.usage(org, "completions", query.model_copy(update={"page": "page_zz"}))
        with pytest.raises(InvalidRequest) as too_many:
            await usage.usage(org, "completions", UsageQuery(start_time=T0, limit=32))
    finally:
        meter.close()
    assert seen == [(T0 + m * 60, m + 1) for m in range(5)]
    assert bad.value.param == "page"
    assert too_many.value.param == "limit"


async def test_costs_follow_the_price_table_with_cached_input_at_half(
    sessions: sessionmaker[Session],
) -> None:
    org, project = add_project(sessions)
    caller = Principal(org, project, "key_a")
    put(
        sessions,
        caller,
        T0 + 1,
        input_tokens=3_000_000,
        input_cached_tokens=1_000_000,
        output_tokens=500_000,
        model="big",
    )
    put(sessions, caller, T0 + 2, kind="audio_speeches", model="tts-1", characters=2_000_000)
    put(sessions, caller, T0 + 3, kind="audio_transcriptions", model="whisper-1", seconds=120)
    prices = {
        "big": Price(input=2.0, output=8.0),
        "*": Price(characters=15.0, minutes=0.006),
    }
    usage, meter = reports(sessions, T0 + DAY, prices)
    try:
        total = await usage.costs(org, UsageQuery(start_time=T0))
        lines = await usage.costs(org, UsageQuery(start_time=T0, group_by=["line_item"]))
    finally:
        meter.close()
    UsageCostsResponse.model_validate(total)
    UsageCostsResponse.model_validate(lines)
    by_line = {r["line_item"]: r for r in lines["data"][0]["results"]}
    assert by_line["big, input"]["amount"]["value"] == pytest.approx(4.0)  # 2M uncached
    assert by_line["big, cached input"]["amount"]["value"] == pytest.approx(1.0)
    assert by_line["big, output"]["amount"]["value"] == pytest.approx(4.0)
    assert by_line["tts-1, characters"]["amount"]["value"] == pytest.approx(30.0)
    assert by_line["whisper-1, duration"]["amount"]["value"] == pytest.approx(0.012)
    assert by_line["big, output"]["quantity"] == 500_000
    [only] = total["data"][0]["results"]
    assert only["amount"] == {"value": pytest.approx(39.012), "currency": "usd"}


async def test_the_meter_keeps_every_record_but_a_deleted_projects(
    sessions: sessionmaker[Session],
) -> None:
    org, project = add_project(sessions)
    _, doomed = add_project(sessions, "Gone")
    meter = UsageMeter(UsageRepository(sessions), flush_seconds=3600)
    try:
        meter.record(Principal(org, project, "key_a"), "completions", "m", input_tokens=5)
        with sessions.begin() as s:
            s.execute(delete(Project).where(Project.id == doomed))
        meter.record(Principal(org, doomed, ""), "completions", "m", input_tokens=6)
        meter.record(Principal(org, project, ""), "embeddings", "e", input_tokens=7)
        meter.flush()
    finally:
        meter.close()
    with sessions() as s:
        rows = s.query(UsageRecord).order_by(UsageRecord.id).all()
    assert [(r.kind, r.input_tokens, r.api_key_id) for r in rows] == [
        ("completions", 5, "key_a"),
        ("embeddings", 7, None),
    ]
