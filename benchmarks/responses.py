"""Responses API benchmark: what ``/v1/responses`` adds over Chat Completions, and what an
openai-agents turn adds over its model calls.

Starts one ``hearth serve`` (fresh temp data dir, Hearth's defaults) and runs two parts
against it with the ``openai`` SDK in this process (the client shares the machine's cores
with the server, the same way for every side):

1. **Runtime overhead.** Each of ``--rounds`` (20) rounds asks a new short question
   (instructions begin with a unique ``Ticket NNNN``) three ways, in an order that rotates
   every round:

   - ``chat``: ``client.chat.completions.create(stream=True)`` with a system message
     holding the instructions and a user message holding the question,
     ``max_completion_tokens`` ``--max-tokens`` (48), ``temperature`` 0 and
     ``stream_options.include_usage`` (the Responses runtime asks its chat call for usage
     too);
   - ``responses``: ``client.responses.create(stream=True)`` with the same
     ``instructions``, the question as ``input``, ``max_output_tokens`` the same,
     ``temperature`` 0 and the default ``store`` (true: the response is written to the
     database before ``response.completed``);
   - ``responses_store_false``: the same with ``store: false``.

   TTFT is the time from the ``create`` call to the first ``chat`` chunk with non-empty
   ``delta.content``, or to the first ``response.output_text.delta`` event; ``total`` is
   the time to the end of the stream. The three prompts of a round are the same
   (Responses renders instructions as a system message), so at temperature 0 the answers
   are the same tokens; every prompt is shorter than one 128-token prompt-cache block, so
   nothing is served from the prompt cache (``cached_tokens`` is recorded to confirm).
   Figures: the median of each side and median(responses) ÷ median(chat); then, round
   by round, responses ÷ chat and responses − chat, each a median over the rounds (the
   rounds' answers differ in length, so for total time the paired figures are the firmer
   ones). **Goal: TTFT ratio <= 1.05.**

2. **Agent turn.** An openai-agents (``Runner.run``, its default ``OpenAIResponsesModel``
   over an ``AsyncOpenAI`` client pointed at the server) agent with one function tool
   answered in this process. ``tool_choice="required"``, ``parallel_tool_calls=False`` and
   ``reset_tool_choice=False`` make every model call one function call; a
   ``tool_use_behavior`` function ends the run with a final output once the tool has run 5
   times, so a run is exactly 5 model calls (``model_calls`` and ``tool_calls`` record
   what happened). The client's HTTP transport times every ``POST /v1/responses`` from
   sending the request to the last byte of its body. Figure: wall time of ``Runner.run``
   ÷ the sum of those 5 durations, median over ``--agent-runs`` (5) runs after one
   warm-up run. **Goal: <= 1.1.**

Prints one JSON document on stdout (progress goes to stderr); nothing here asserts on the
figures.

Usage: .venv/bin/python benchmarks/responses.py [--rounds 20] [--max-tokens 48]
           [--agent-runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # noqa: E402
    API_KEY,
    MODEL_ID,
    cpu_sample,
    finite,
    free_port,
    hearth_command,
    interference,
    server,
)

from hearth import __version__ as hearth_version  # noqa: E402

SIDES = ("chat", "responses", "responses_store_false")
AGENT_CALLS = 5
QUESTIONS = (
    "Why is the sky blue?",
    "What is a good name for a grey cat?",
    "How do bees make honey?",
    "Why does bread rise?",
    "What makes rivers flow?",
    "How do I keep tea warm?",
    "Why does snow squeak underfoot?",
    "What is chess good for?",
    "How do maps show hills?",
    "Why do people like music?",
    "What should I pack for a rainy walk?",
    "How do owls see at night?",
    "Why do leaves change colour?",
    "What is a lighthouse for?",
    "How does a kite stay up?",
    "Why is the sea salty?",
    "What do squirrels eat in winter?",
    "How does a bicycle stay upright?",
    "Why do onions make people cry?",
    "What is the moon made of?",
)


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the JSON result)."""
    print(f"[responses] {message}", file=sys.stderr, flush=True)


def instructions(ticket: int) -> str:
    """System instructions; the ticket number comes first so rounds share no prefix."""
    return f"Ticket {ticket:04d}. You are a helpful assistant. Answer in one short sentence."


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# --------------------------------------------------------------------------- part 1


@dataclass
class Sample:
    """One streamed request as the client saw it."""

    ttft_s: float
    total_s: float
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None


async def stream_chat(
    client: openai.AsyncOpenAI, ticket: int, question: str, max_tokens: int
) -> Sample:
    sent = time.perf_counter()
    stream = await client.chat.completions.create(
        model=MODEL_ID,
        messages=[
            {"role": "system", "content": instructions(ticket)},
            {"role": "user", "content": question},
        ],
        temperature=0,
        max_completion_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    first: float | None = None
    text: list[str] = []
    usage = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if first is None:
                first = time.perf_counter()
            text.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    end = time.perf_counter()
    details = usage.prompt_tokens_details if usage else None
    return Sample(
        ttft_s=(first if first is not None else end) - sent,
        total_s=end - sent,
        text="".join(text),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cached_tokens=details.cached_tokens if details else None,
    )


async def stream_responses(
    client: openai.AsyncOpenAI, ticket: int, question: str, max_tokens: int, store: bool | None
) -> Sample:
    extra: dict[str, Any] = {} if store is None else {"store": store}
    sent = time.perf_counter()
    stream = await client.responses.create(
        model=MODEL_ID,
        instructions=instructions(ticket),
        input=question,
        temperature=0,
        max_output_tokens=max_tokens,
        stream=True,
        **extra,
    )
    first: float | None = None
    text: list[str] = []
    usage = None
    async for event in stream:
        if event.type == "response.output_text.delta":
            if first is None:
                first = time.perf_counter()
            text.append(event.delta)
        elif event.type in ("response.completed", "response.incomplete", "response.failed"):
            usage = event.response.usage
    end = time.perf_counter()
    return Sample(
        ttft_s=(first if first is not None else end) - sent,
        total_s=end - sent,
        text="".join(text),
        prompt_tokens=usage.input_tokens if usage else None,
        completion_tokens=usage.output_tokens if usage else None,
        cached_tokens=usage.input_tokens_details.cached_tokens if usage else None,
    )


def side_call(
    side: str, client: openai.AsyncOpenAI, ticket: int, question: str, max_tokens: int
) -> Awaitable[Sample]:
    if side == "chat":
        return stream_chat(client, ticket, question, max_tokens)
    store = None if side == "responses" else False
    return stream_responses(client, ticket, question, max_tokens, store)


async def runtime_overhead(
    client: openai.AsyncOpenAI, rounds: int, max_tokens: int
) -> dict[str, Any]:
    for side in SIDES:  # warm-up: first request of each path (imports, model, grammars)
        await side_call(side, client, 0, "Say hello.", max_tokens)
    samples: dict[str, list[Sample]] = {s: [] for s in SIDES}
    same_text = 0
    for r in range(rounds):
        ticket = r + 1
        question = QUESTIONS[r % len(QUESTIONS)]
        order = SIDES[r % len(SIDES) :] + SIDES[: r % len(SIDES)]
        got: dict[str, Sample] = {}
        for side in order:
            got[side] = await side_call(side, client, ticket, question, max_tokens)
            samples[side].append(got[side])
        same_text += len({got[s].text for s in SIDES}) == 1
        log(
            f"round {r + 1}/{rounds} ({', '.join(order)}): ttft "
            + " ".join(f"{s}={got[s].ttft_s * 1000:.1f}ms" for s in SIDES)
        )
    ttft = {s: median([x.ttft_s for x in samples[s]]) for s in SIDES}

    def pairs(side: str) -> list[tuple[Sample, Sample]]:
        """``side``'s sample and chat's, round by round."""
        return list(zip(samples[side], samples["chat"], strict=True))

    total = {s: median([x.total_s for x in samples[s]]) for s in SIDES}
    return {
        "rounds": rounds,
        "max_tokens": max_tokens,
        "ttft_s_median": ttft,
        "total_s_median": total,
        "ttft_responses_over_chat (goal <= 1.05)": ratio(ttft["responses"], ttft["chat"]),
        "ttft_responses_store_false_over_chat": ratio(ttft["responses_store_false"], ttft["chat"]),
        "total_responses_over_chat": ratio(total["responses"], total["chat"]),
        "total_responses_store_false_over_chat": ratio(
            total["responses_store_false"], total["chat"]
        ),
        "paired_ratio_median": {
            f"{s}_over_chat": {
                "ttft": median([ratio(a.ttft_s, c.ttft_s) for a, c in pairs(s)]),
                "total": median([ratio(a.total_s, c.total_s) for a, c in pairs(s)]),
            }
            for s in SIDES[1:]
        },
        "ttft_minus_chat_ms_median": {
            s: 1000 * median([a.ttft_s - c.ttft_s for a, c in pairs(s)]) for s in SIDES[1:]
        },
        "total_minus_chat_ms_median": {
            s: 1000 * median([a.total_s - c.total_s for a, c in pairs(s)]) for s in SIDES[1:]
        },
        "rounds_with_identical_text_on_all_sides": same_text,
        "prompt_tokens": {s: sorted({x.prompt_tokens for x in samples[s]}) for s in SIDES},
        "completion_tokens_median": {
            s: median([float(x.completion_tokens or 0) for x in samples[s]]) for s in SIDES
        },
        "cached_tokens_max": {s: max(x.cached_tokens or 0 for x in samples[s]) for s in SIDES},
        "per_round_ttft_s": {s: [x.ttft_s for x in samples[s]] for s in SIDES},
        "per_round_total_s": {s: [x.total_s for x in samples[s]] for s in SIDES},
    }


# --------------------------------------------------------------------------- part 2


@dataclass
class Call:
    """One HTTP request as the client's transport saw it."""

    method: str
    path: str
    start: float
    end: float | None = None


class _TimedStream(httpx2.AsyncByteStream):
    """A response body that notes when its last byte was read (or it was closed)."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
        self._on_end()

    async def aclose(self) -> None:
        self._on_end()
        await self._inner.aclose()


class TimingTransport(httpx2.AsyncBaseTransport):
    """The default transport, timing each request from sending to the end of its body."""

    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self.calls: list[Call] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        call = Call(request.method, request.url.path, time.perf_counter())
        self.calls.append(call)
        response = await self._inner.handle_async_request(request)

        def ended() -> None:
            if call.end is None:
                call.end = time.perf_counter()

        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_TimedStream(response.stream, ended),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class AgentRun:
    wall_s: float
    model_calls: int
    tool_calls: int
    other_requests: int
    call_s: list[float]
    before_first_call_s: float
    between_calls_s: list[float]
    after_last_call_s: float
    input_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    cached_tokens: list[int] = field(default_factory=list)
    final_output: str = ""

    @property
    def wall_over_sum(self) -> float:
        return ratio(self.wall_s, sum(self.call_s))


async def agent_run(model: Any, transport: TimingTransport) -> AgentRun:
    from agents import (
        Agent,
        FunctionToolResult,
        ModelSettings,
        RunContextWrapper,
        Runner,
        ToolsToFinalOutputResult,
        function_tool,
    )

    steps: list[int] = []

    @function_tool
    def record_step(step: int) -> str:
        """Record that one step of the plan is done.

        Args:
            step: The number of the step that is done.
        """
        steps.append(step)
        return f"Step {step} recorded. {AGENT_CALLS - len(steps)} steps left."

    def stop_after_five(
        context: RunContextWrapper[Any], results: list[FunctionToolResult]
    ) -> ToolsToFinalOutputResult:
        if len(steps) >= AGENT_CALLS:
            return ToolsToFinalOutputResult(
                is_final_output=True, final_output=f"{len(steps)} steps recorded"
            )
        return ToolsToFinalOutputResult(is_final_output=False)

    agent = Agent(
        name="planner",
        instructions=(
            f"Work through a plan of {AGENT_CALLS} steps. After each step, call record_step "
            "with the step's number."
        ),
        model=model,
        tools=[record_step],
        tool_use_behavior=stop_after_five,
        reset_tool_choice=False,
        model_settings=ModelSettings(
            temperature=0, max_tokens=40, tool_choice="required", parallel_tool_calls=False
        ),
    )
    transport.calls.clear()
    started = time.perf_counter()
    result = await Runner.run(agent, "Start the plan.", max_turns=AGENT_CALLS + 1)
    wall = time.perf_counter() - started
    posts = [c for c in transport.calls if c.method == "POST" and c.path.endswith("/responses")]
    ends = [c.end if c.end is not None else started + wall for c in posts]
    usages = [r.usage for r in result.raw_responses]
    return AgentRun(
        wall_s=wall,
        model_calls=len(posts),
        tool_calls=len(steps),
        other_requests=len(transport.calls) - len(posts),
        call_s=[e - c.start for c, e in zip(posts, ends, strict=True)],
        before_first_call_s=(posts[0].start - started) if posts else float("nan"),
        between_calls_s=[b.start - a_end for a_end, b in zip(ends[:-1], posts[1:], strict=True)],
        after_last_call_s=(started + wall - ends[-1]) if posts else float("nan"),
        input_tokens=[u.input_tokens for u in usages],
        output_tokens=[u.output_tokens for u in usages],
        cached_tokens=[u.input_tokens_details.cached_tokens for u in usages],
        final_output=str(result.final_output),
    )


async def agent_turn(base: str, runs: int) -> dict[str, Any]:
    from agents import OpenAIResponsesModel, set_tracing_disabled

    set_tracing_disabled(True)  # traces would go to OpenAI's servers
    transport = TimingTransport()
    http = openai.DefaultAsyncHttpxClient(transport=transport, timeout=600)
    async with openai.AsyncOpenAI(
        base_url=f"{base}/v1", api_key=API_KEY, max_retries=0, http_client=http
    ) as client:
        model = OpenAIResponsesModel(model=MODEL_ID, openai_client=client)
        warm = await agent_run(model, transport)
        log(f"agent warm-up: {warm.wall_s:.2f} s, {warm.model_calls} model calls")
        out: list[AgentRun] = []
        for i in range(runs):
            run = await agent_run(model, transport)
            out.append(run)
            log(
                f"agent run {i + 1}/{runs}: wall {run.wall_s:.3f} s, calls "
                f"{sum(run.call_s):.3f} s ({run.model_calls} model calls, "
                f"{run.tool_calls} tool calls), wall/sum {run.wall_over_sum:.3f}"
            )
    return {
        "runs": runs,
        "calls_per_run": AGENT_CALLS,
        "wall_over_sum_of_model_calls_median (goal <= 1.1)": median([r.wall_over_sum for r in out]),
        "wall_s_median": median([r.wall_s for r in out]),
        "sum_of_model_calls_s_median": median([sum(r.call_s) for r in out]),
        "outside_model_calls_ms_median": 1000 * median([r.wall_s - sum(r.call_s) for r in out]),
        "runs_with_exactly_5_model_and_tool_calls": sum(
            r.model_calls == AGENT_CALLS and r.tool_calls == AGENT_CALLS for r in out
        ),
        "per_run": [
            {
                "wall_s": r.wall_s,
                "model_call_s": r.call_s,
                "wall_over_sum": r.wall_over_sum,
                "model_calls": r.model_calls,
                "tool_calls": r.tool_calls,
                "other_requests": r.other_requests,
                "before_first_call_ms": 1000 * r.before_first_call_s,
                "between_calls_ms": [1000 * g for g in r.between_calls_s],
                "after_last_call_ms": 1000 * r.after_last_call_s,
                "input_tokens": r.input_tokens,
                "cached_tokens": r.cached_tokens,
                "output_tokens": r.output_tokens,
                "final_output": r.final_output,
            }
            for r in out
        ],
    }


# --------------------------------------------------------------------------- main


async def prompt_cache(base: str) -> dict[str, Any]:
    """The prompt cache's counters from Hearth's ``GET /hearth/engine``."""
    async with httpx2.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as http:
        resp = await http.get("/hearth/engine")
        resp.raise_for_status()
        return dict(resp.json()["models"][MODEL_ID].get("prompt_cache") or {})


def cache_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Prompt-cache lookups and hits between two readings (the engine's own counts: the
    API reports ``cached_tokens`` only from 1,024 tokens up, as OpenAI does)."""
    keys = ("lookups", "hits", "lookup_tokens", "hit_tokens")
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}


async def bench(base: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    async with openai.AsyncOpenAI(
        base_url=f"{base}/v1", api_key=API_KEY, max_retries=0, timeout=600
    ) as client:
        log(f"runtime overhead: {args.rounds} rounds")
        cache = await prompt_cache(base)
        before = cpu_sample(pid)
        overhead = await runtime_overhead(client, args.rounds, args.max_tokens)
        overhead["interference"] = interference(before, cpu_sample(pid))
        overhead["engine_prompt_cache"] = cache_delta(cache, await prompt_cache(base))
    log(f"agent turn: {args.agent_runs} runs of {AGENT_CALLS} model calls")
    cache = await prompt_cache(base)
    before = cpu_sample(pid)
    agent = await agent_turn(base, args.agent_runs)
    agent["interference"] = interference(before, cpu_sample(pid))
    agent["engine_prompt_cache"] = cache_delta(cache, await prompt_cache(base))
    return {"runtime_overhead": overhead, "agent_turn": agent}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds (20)")
    parser.add_argument("--max-tokens", type=int, default=48, help="answer length cap (48)")
    parser.add_argument("--agent-runs", type=int, default=5, help="measured agent runs (5)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.agent_runs < 1 or args.max_tokens < 1:
        parser.error("--rounds, --max-tokens and --agent-runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from importlib.metadata import version

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_LOG_LEVEL"] = "warning"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-bench-responses-") as tmp:
        port = free_port()
        log_path = Path(tmp) / "serve.log"
        with server(
            hearth_command(port, Path(tmp) / "data"), env, port, log_path, "/v1/models"
        ) as running:
            log(f"hearth serve ready on port {port} after {running.startup_s:.1f} s")
            result = asyncio.run(bench(running.base, running.pid, args))
        problems = [
            line
            for line in log_path.read_text(errors="replace").splitlines()
            if "Traceback" in line or "ERROR" in line
        ]
    doc = {
        "benchmark": "responses",
        "model": MODEL_ID,
        "environment": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "hearth": hearth_version,
            "openai": openai.__version__,
            "openai_agents": version("openai-agents"),
        },
        "goals": {
            "runtime_overhead.ttft_responses_over_chat": "<= 1.05",
            "agent_turn.wall_over_sum_of_model_calls_median": "<= 1.1",
        },
        **result,
        "server_log_problems": problems,
        "total_seconds": time.perf_counter() - started,
    }
    print(json.dumps(finite(doc), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
