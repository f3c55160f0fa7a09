"""Fine-tuning through the SDK against a real ``hearth serve``: a tiny LoRA job on the
bundled model that completes, reports events and checkpoints, and whose models answer;
every bad input; cancel, pause/resume, and a server killed mid-job."""

from __future__ import annotations

import io
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from safetensors import safe_open

from tests.conftest import API_KEY, MODEL
from tests.contract import check, check_list
from tests.e2e.conftest import Server, start_server, stop_server
from tests.services.test_remote_engine import Answer, Upstream, chat_answer, upstream

__all__ = ["upstream"]  # the fake vLLM upstream's fixture, shared with the services tests

pytestmark = pytest.mark.e2e

QUESTIONS = [
    "What is 2 plus 2?",
    "Name a color.",
    "What is the capital of Italy?",
    "How many legs does a cat have?",
    "What do bees make?",
    "Say hello.",
    "What is water made of?",
    "Which planet is red?",
    "What is 10 minus 3?",
    "Name a fruit.",
    "What day follows Monday?",
    "What is ice?",
]
ANSWER = "Arr matey! Ye be askin' a fine question."
ENV = {"HEARTH_LEASE_SECONDS": "3", "HEARTH_AUDIO": "false"}


def examples(n: int = 12) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]},
                {"role": "assistant", "content": ANSWER},
            ]
        }
        for i in range(n)
    ]


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture(scope="module")
def ft_server(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # two remote bases on a fake vLLM: one with local weights to train on, one without
    remote = [
        {"id": "big-remote", "base_url": upstream.url, "flavor": "vllm", "weights": MODEL},
        {"id": "bare-remote", "base_url": upstream.url, "flavor": "vllm"},
    ]
    env = {**ENV, "HEARTH_MODELS": json.dumps(remote)}
    srv = start_server(tmp_path_factory.mktemp("ft") / "data", "--api-key", API_KEY, env=env)
    yield srv
    stop_server(srv)


@pytest.fixture
def client(ft_server: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{ft_server.url}/v1", api_key=API_KEY, max_retries=0) as c:
        yield c


def upload(client: openai.OpenAI, data: bytes, purpose: str = "fine-tune") -> str:
    return client.files.create(file=("train.jsonl", io.BytesIO(data)), purpose=purpose).id  # type: ignore[arg-type]


def create_job(client: openai.OpenAI, file_id: str, epochs: int = 3, **kw: Any) -> Any:
    return client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=file_id,
        seed=7,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": epochs,
                    "batch_size": 2,
                    "learning_rate_multiplier": 4.0,
                }
            },
        },
        **kw,
    )


def wait(
    client: openai.OpenAI,
    job_id: str,
    statuses: set[str],
    timeout: float = 300,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job.status} after {timeout} s")


def wait_checkpoints(client: openai.OpenAI, job_id: str, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(client.fine_tuning.jobs.checkpoints.list(job_id).data) >= count:
            return
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} has no {count} checkpoints after {timeout} s")


def ask(client: openai.OpenAI, model: str, question: str, **kw: Any) -> str:
    r = client.chat.completions.create(
        model=model,
        temperature=0,
        max_completion_tokens=24,
        messages=[{"role": "user", "content": question}],
        **kw,
    )
    return r.choices[0].message.content or ""


def test_job_trains_reports_and_serves(client: openai.OpenAI) -> None:
    file_id = upload(client, jsonl(examples()))
    job = create_job(client, file_id, suffix="pirate", metadata={"run": "main"})
    assert job.status == "queued" and job.fine_tuned_model is None
    assert job.method.supervised.hyperparameters.n_epochs == 3  # type: ignore[union-attr]
    done = wait(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded", done.error
    model = done.fine_tuned_model
    assert model is not None and model.startswith(f"ft:{MODEL}:") and ":pirate:" in model
    assert done.trained_tokens and done.trained_tokens > 0 and done.finished_at
    assert client.fine_tuning.jobs.list(metadata={"run": "main"}).data[0].id == job.id

    events = list(client.fine_tuning.jobs.list_events(job.id, limit=5))  # auto-paginates
    messages = [e.message for e in events]
    assert any("started" in m for m in messages)
    assert any("successfully completed" in m for m in messages)
    metrics = [e.data for e in events if e.type == "metrics"]
    steps = sorted(d["step"] for d in metrics)  # type: ignore[index]
    assert steps == list(range(1, 19))  # 12 examples / batch 2 x 3 epochs
    losses = {d["step"]: d["train_loss"] for d in metrics}  # type: ignore[index]
    assert losses[18] < losses[1]

    check("fine_tuning.job", client.fine_tuning.jobs.with_raw_response.retrieve(job.id).text)
    check_list(
        "fine_tuning.job.checkpoint",
        client.fine_tuning.jobs.checkpoints.with_raw_response.list(job.id).text,
    )
    ckpts = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in ckpts] == [18, 12, 6]  # newest first, one per epoch
    assert all(c.fine_tuned_model_checkpoint.startswith(model + ":ckpt-step-") for c in ckpts)

    listed = {m.id: m for m in client.models.list()}
    assert model in listed and listed[model].owned_by.startswith("org")
    # it learned the reply, and the base model did not have it
    assert ask(client, model, QUESTIONS[0]).startswith("Arr matey")
    assert not ask(client, MODEL, QUESTIONS[0]).startswith("Arr matey")
    assert ask(client, ckpts[1].fine_tuned_model_checkpoint, QUESTIONS[1])
    stream = client.chat.completions.create(
        model=model,
        max_completion_tokens=8,
        stream=True,
        messages=[{"role": "user", "content": QUESTIONS[2]}],
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    structured = client.chat.completions.create(
        model=model,
        max_completion_tokens=40,
        messages=[{"role": "user", "content": "Give a number as JSON."}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "n",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}},
                    "required": ["n"],
                    "additionalProperties": False,
                },
            },
        },
    )
    if structured.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(structured.choices[0].message.content or "")["n"], int)
    assert done.result_files and client.files.content(done.result_files[0]).content.startswith(
        b"step,train_loss"
    )


def test_a_remote_base_is_tuned_here_and_served_by_vllm(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    """A model on a vLLM upstream is fine-tuned on its local weights; the tuned model is
    vLLM's LoRA adapter (loaded from the job's PEFT folder on first use, unloaded when the
    model is deleted), and a remote base without local weights is a 400."""
    file_id = upload(client, jsonl(examples(10)))
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model="bare-remote", training_file=file_id)
    assert _error(refused)["code"] == "model_not_available"
    job = client.fine_tuning.jobs.create(
        model="big-remote",
        training_file=file_id,
        seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
    )
    done = wait(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded", done.error
    model = done.fine_tuned_model
    assert model is not None and model.startswith("ft:big-remote:")

    upstream.requests.clear()
    upstream.answer = lambda path, body: (
        Answer(body="Success: LoRA adapter loaded.") if "lora_adapter" in path else chat_answer()
    )
    for _ in range(2):
        answered = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": QUESTIONS[0]}]
        )
        assert answered.model == model and answered.choices[0].message.content == "Hi!"
    paths = [p for p, _, _ in upstream.requests]
    assert paths == ["/v1/load_lora_adapter", "/v1/chat/completions", "/v1/chat/completions"]
    load = upstream.requests[0][2]
    assert load["lora_name"] == model
    folder = Path(load["lora_path"])  # shared storage: the upstream reads the job's folder
    assert json.loads((folder / "adapter_config.json").read_text())["peft_type"] == "LORA"
    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as tensors:
        assert any(k.endswith("q_proj.lora_A.weight") for k in tensors.keys())  # noqa: SIM118
    assert all(b["model"] == model for b in upstream.bodies("/v1/chat/completions"))

    client.models.delete(model)
    assert upstream.requests[-1][:1] == ("/v1/unload_lora_adapter",)
    assert upstream.requests[-1][2] == {"lora_name": model}
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def _error(exc: pytest.ExceptionInfo[openai.APIStatusError]) -> dict[str, Any]:
    return exc.value.body if isinstance(exc.value.body, dict) else {}  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (["{not json", *examples(11)], ["Line 1", "JSON"]),
        ([*examples(11), [1, 2]], ["Line 12", "object"]),
        (
            [*examples(10), {"messages": [{"role": "user", "content": "hi"}]}],
            ["Line 11", "assistant"],
        ),
        ([*examples(10), {"messages": [{"role": "robot", "content": "hi"}]}], ["Line 11", "role"]),
        ([*examples(10), {"messages": ANSWER}], ["Line 11", "messages"]),
        (
            [*examples(10), {"messages": [{"role": "user", "content": "hi"}], "extra": 1}],
            ["Line 11", "extra"],
        ),
        (examples(3), ["3 example", "at least 10"]),
        (
            [
                *examples(10),
                {
                    "messages": [
                        {
                            "role": "user",
                            "content": [
                                {"type": "text", "text": "what is this?"},
                                {
                                    "type": "image_url",
                                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                                },
                            ],
                        },
                        {"role": "assistant", "content": "A picture."},
                    ]
                },
            ],
            ["Line 11", "text-only"],
        ),
    ],
)
def test_bad_training_files_are_refused_before_training(
    client: openai.OpenAI, rows: list[Any], words: list[str]
) -> None:
    data = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()
    before = len(client.fine_tuning.jobs.list().data)
    with pytest.raises(openai.BadRequestError) as exc:
        create_job(client, upload(client, data))
    err = _error(exc)
    assert err["param"] == "training_file" and err["code"] == "invalid_training_file"
    assert all(w in err["message"] for w in words), err["message"]
    assert len(client.fine_tuning.jobs.list().data) == before


def test_bad_job_requests(client: openai.OpenAI) -> None:
    good = upload(client, jsonl(examples()))
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.create(model="no-such-model", training_file=good)
    with pytest.raises(openai.NotFoundError) as nf:
        client.fine_tuning.jobs.create(model=MODEL, training_file="file-missing")
    assert _error(nf)["param"] == "training_file"
    other = upload(client, jsonl(examples()), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as purpose:
        client.fine_tuning.jobs.create(model=MODEL, training_file=other)
    assert _error(purpose)["param"] == "training_file"
    with pytest.raises(openai.BadRequestError) as suffix:
        client.fine_tuning.jobs.create(model=MODEL, training_file=good, suffix="a:b")
    assert _error(suffix)["param"] == "suffix"
    with pytest.raises(openai.BadRequestError) as epochs:
        client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=good,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}},
        )
    assert "n_epochs" in (_error(epochs)["param"] or "")
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=good,
            method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}},
        )  # chat lines, not dpo
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=f"ft:{MODEL}:x::nothing", messages=[{"role": "user", "content": "hi"}]
        )


def test_cancel_and_pause_resume(client: openai.OpenAI) -> None:
    file_id = upload(client, jsonl(examples()))
    cancelled = create_job(client, file_id)
    assert client.fine_tuning.jobs.cancel(cancelled.id).status == "cancelled"
    final = wait(client, cancelled.id, {"cancelled", "succeeded", "failed"})
    assert final.status == "cancelled" and final.fine_tuned_model is None
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.resume(cancelled.id)

    job = create_job(client, file_id, epochs=2)
    wait_checkpoints(client, job.id, 1)
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    wait(client, job.id, {"paused"})
    assert client.fine_tuning.jobs.resume(job.id).status == "queued"
    done = wait(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded", done.error
    steps = [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id)]
    assert steps == [12, 6]
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert any("paused" in m for m in messages) and any("resumed" in m for m in messages)


def test_dpo_job_completes(client: openai.OpenAI) -> None:
    rows = [
        {
            "input": {"messages": [{"role": "user", "content": q}]},
            "preferred_output": [{"role": "assistant", "content": ANSWER}],
            "non_preferred_output": [{"role": "assistant", "content": "I don't know."}],
        }
        for q in QUESTIONS[:10]
    ]
    job = client.fine_tuning.jobs.create(
        model=MODEL,
        training_file=upload(client, jsonl(rows)),
        method={"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 1, "batch_size": 5}}},
    )
    assert job.method.type == "dpo"
    done = wait(client, job.id, {"succeeded", "failed"})
    assert done.status == "succeeded", done.error
    assert ask(client, done.fine_tuned_model or "", QUESTIONS[0])


def test_killed_server_resumes_the_job(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, "--api-key", API_KEY, env=ENV)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            job = create_job(c, upload(c, jsonl(examples())), epochs=2)
            wait_checkpoints(c, job.id, 1)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    finally:
        stop_server(server)
    server = start_server(data, "--api-key", API_KEY, env=ENV)
    try:
        with openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0) as c:
            assert c.fine_tuning.jobs.retrieve(job.id).status in ("running", "queued", "succeeded")
            done = wait(c, job.id, {"succeeded", "failed"})
            assert done.status == "succeeded", done.error
            steps = [ck.step_number for ck in c.fine_tuning.jobs.checkpoints.list(job.id)]
            assert steps == [12, 6]
            messages = [e.message for e in c.fine_tuning.jobs.list_events(job.id, limit=100)]
            assert any("resumed" in m for m in messages)
            assert ask(c, done.fine_tuned_model or "", QUESTIONS[3])
    finally:
        stop_server(server)
