"""Two ``hearth serve`` replicas on one PostgreSQL, one Redis and one shared data dir,
reached in turn as a round-robin balancer would: a file uploaded on one is read on the
other, an eval run created on one is executed once, a project's rate limit set on one
binds across both, a key revoked on one is refused by the other at once, usage made on
both is summed on either, a background response running on one is streamed and cancelled
from the other, and a code interpreter container made on one is used through the other."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from tests.conftest import ADMIN_KEY, API_KEY, MODEL, new_database
from tests.e2e.conftest import Server, hearth_engine, start_server, stop_server
from tests.e2e.test_code_interpreter import run_code
from tests.e2e.test_evals import CUSTOM, EXACT, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def replicas(
    postgres: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    data = tmp_path_factory.mktemp("replicas") / "data"
    env = {"HEARTH_DATABASE_URL": new_database(postgres), "HEARTH_REDIS_URL": redis_url}
    args = ("--api-key", API_KEY, "--admin-key", ADMIN_KEY)
    servers = [start_server(data, *args, env=env)]
    try:
        servers.append(start_server(data, *args, env=env))
        yield servers
    finally:
        for server in servers:
            stop_server(server)


def clients(servers: list[Server], **keys: str) -> list[openai.OpenAI]:
    return [
        openai.OpenAI(base_url=f"{s.url}/v1", max_retries=0, **keys)  # type: ignore[arg-type]
        for s in servers
    ]


def test_a_file_uploaded_on_one_replica_is_read_on_the_other(
    replicas: list[Server], tmp_path: Path
) -> None:
    first, second = clients(replicas, api_key=API_KEY)
    uploaded = first.files.create(file=("notes.txt", b"shared blobs\n"), purpose="assistants")
    assert second.files.retrieve(uploaded.id).filename == "notes.txt"
    assert second.files.content(uploaded.id).content == b"shared blobs\n"
    second.files.delete(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        first.files.retrieve(uploaded.id)


def test_an_eval_run_is_executed_once(replicas: list[Server]) -> None:
    first, second = clients(replicas, api_key=API_KEY)
    ev = first.evals.create(
        name="replicated",
        data_source_config=CUSTOM,  # type: ignore[arg-type]
        testing_criteria=[EXACT],  # type: ignore[list-item]
    )
    rows = [
        {"item": {"question": str(i), "answer": str(i)}, "sample": {"output_text": str(i % 3)}}
        for i in range(12)
    ]
    run = first.evals.runs.create(
        ev.id,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": rows}},  # type: ignore[arg-type]
    )
    done = wait_for(second, ev.id, run.id)
    assert done.status == "completed"
    assert done.result_counts.model_dump() == {"total": 12, "passed": 3, "failed": 9, "errored": 0}
    items = list(second.evals.runs.output_items.list(run.id, eval_id=ev.id, limit=100))
    assert sorted(i.datasource_item_id for i in items) == list(range(12))


def test_a_rate_limit_binds_across_replicas(replicas: list[Server]) -> None:
    admin, _ = clients(replicas, api_key="unused", admin_api_key=ADMIN_KEY)
    project = admin.admin.organization.projects.create(name="Limited")
    account = admin.admin.organization.projects.service_accounts.create(project.id, name="app")
    assert account.api_key is not None
    admin.admin.organization.projects.rate_limits.update_rate_limit(
        f"rl-{MODEL}", project_id=project.id, max_requests_per_1_minute=3
    )
    answered = 0
    refused = 0
    for client in itertools.islice(
        itertools.cycle(clients(replicas, api_key=account.api_key.value)), 5
    ):
        try:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
            )
            answered += 1
        except openai.RateLimitError:
            refused += 1
    assert (answered, refused) == (3, 2)


def test_a_key_revoked_on_one_replica_is_refused_by_the_other_at_once(
    replicas: list[Server],
) -> None:
    admin, _ = clients(replicas, api_key="unused", admin_api_key=ADMIN_KEY)
    project = admin.admin.organization.projects.create(name="Revoked")
    account = admin.admin.organization.projects.service_accounts.create(project.id, name="app")
    assert account.api_key is not None
    _, other = clients(replicas, api_key=account.api_key.value)
    other.models.list()  # the other replica now holds the key in its cache (60 s)
    admin.admin.organization.projects.api_keys.delete(account.api_key.id, project_id=project.id)
    deadline = time.monotonic() + 2  # the broadcast, not the cache's 60 s expiry
    while True:
        try:
            other.models.list()
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "the revoked key still works on the other replica"
        time.sleep(0.05)


def test_usage_from_both_replicas_is_summed_on_either(replicas: list[Server]) -> None:
    admin, other_admin = clients(replicas, api_key="unused", admin_api_key=ADMIN_KEY)
    project = admin.admin.organization.projects.create(name="Metered")
    account = admin.admin.organization.projects.service_accounts.create(project.id, name="app")
    assert account.api_key is not None
    start = int(time.time())
    answers = [
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hello"}], max_tokens=3
        )
        for client in clients(replicas, api_key=account.api_key.value)
    ]
    time.sleep(1.5)  # each replica writes its records every second
    page = other_admin.admin.organization.usage.completions(
        start_time=start, project_ids=[project.id]
    )
    [result] = page.data[0].results
    assert result.num_model_requests == 2
    assert result.output_tokens == sum(a.usage.completion_tokens for a in answers)  # type: ignore[union-attr]


def engine_stats(server: Server) -> dict[str, Any]:
    """The replica's engine counters for the chat model (``GET /hearth/engine``)."""
    answer = httpx2.get(
        f"{server.url}/hearth/engine", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    return dict(answer.json()["models"].get(MODEL) or {"active_requests": 0})


def test_a_background_response_is_streamed_and_cancelled_from_the_other_replica(
    replicas: list[Server],
) -> None:
    both = clients(replicas, api_key=API_KEY)
    stream = both[0].responses.create(
        model=MODEL,
        input="Write a long story.",
        background=True,
        stream=True,
        max_output_tokens=1500,
        temperature=1,
    )
    seen: list[Any] = []
    for event in stream:
        seen.append(event)
        if sum(e.type == "response.output_text.delta" for e in seen) == 3:
            break
    stream.close()  # leaving does not stop it
    response_id = seen[0].response.id
    busy = [i for i, server in enumerate(replicas) if engine_stats(server)["active_requests"]]
    assert len(busy) == 1, "one replica runs it"
    runner, other = busy[0], 1 - busy[0]

    # the replica not running it streams it on, from where the first stream stopped
    last = seen[-1].sequence_number
    resumed = both[other].responses.retrieve(response_id, stream=True, starting_after=last)
    more = list(itertools.islice(resumed, 5))
    resumed.close()
    assert [e.sequence_number for e in more] == list(range(last + 1, last + 6))

    # cancelled there, it stops on the runner at once, not at its next lease renewal (10 s)
    listening = both[runner].responses.retrieve(response_id, stream=True, starting_after=last)
    cancelled_at = time.monotonic()
    assert both[other].responses.cancel(response_id).status == "cancelled"
    while engine_stats(replicas[runner])["active_requests"]:
        assert time.monotonic() - cancelled_at < 3, "generation did not stop"
        time.sleep(0.05)
    rest = list(listening)  # ends: the cancel closes every listener
    assert rest and all(e.type not in ("response.completed", "response.incomplete") for e in rest)
    time.sleep(0.5)
    assert both[runner].responses.retrieve(response_id).status == "cancelled"


@pytest.mark.filterwarnings(
    "ignore:(deprecated|The Assistants API is deprecated):DeprecationWarning"
)
def test_runs_stream_through_either_replica(replicas: list[Server]) -> None:
    both = clients(replicas, api_key=API_KEY)
    assistant = both[0].beta.assistants.create(model=MODEL, instructions="Answer briefly.")
    for client in both * 2:  # whichever replica claims the run, its events reach the stream
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Say hi."}])
        with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=16
        ) as stream:
            events = [event.event for event in stream]
        assert events[:2] == ["thread.run.created", "thread.run.queued"]
        assert events[-1] in ("thread.run.completed", "thread.run.incomplete")
        assert "thread.message.delta" in events
        messages = client.beta.threads.messages.list(thread.id, order="desc", limit=1).data
        assert messages[0].role == "assistant" and messages[0].content


def test_a_container_made_on_one_replica_is_used_through_the_other(
    replicas: list[Server],
) -> None:
    """The sandbox stays on the replica that made the container; the other reaches it
    over the bus: files, code the Responses tool runs, deletion."""
    engine = hearth_engine(replicas[0])
    if engine["code_interpreter"]["reason"] is not None:
        message = f"code interpreter unavailable: {engine['code_interpreter']['reason']}"
        if os.environ.get("HEARTH_REQUIRE_SANDBOX") == "1":
            pytest.fail(message)
        pytest.skip(message)
    holder, other = clients(replicas, api_key=API_KEY)
    container = holder.containers.create(name="shared")
    uploaded = other.containers.files.create(container.id, file=("notes.txt", b"kept"))
    assert (
        other.containers.files.content.retrieve(uploaded.id, container_id=container.id).read()
        == b"kept"
    )
    call = run_code(other, container.id, "print(open('/mnt/data/notes.txt').read())")
    assert call.type == "code_interpreter_call" and call.container_id == container.id
    assert call.outputs and call.outputs[0].type == "logs" and call.outputs[0].logs
    # the kernel ran on the holder, and the other replica did not take it for gone
    assert [c["id"] for c in hearth_engine(replicas[0])["containers"]] == [container.id]
    assert hearth_engine(replicas[1])["containers"] == []
    assert other.containers.retrieve(container.id).status == "running"
    other.containers.delete(container.id)
    assert hearth_engine(replicas[0])["containers"] == []
