"""Assistants API benchmark: what a run costs over the Responses call it makes, and how a
long thread starts a run.

Starts one ``hearth serve`` (fresh temp data dir, Hearth's defaults) and runs two parts
against it with the ``openai`` SDK in this process (the client shares the machine's cores
with the server, the same way for every side):

1. **Run overhead.** One assistant (instructions ``INSTRUCTIONS``). Each of ``--rounds``
   (10) rounds asks a new short question three ways, in an order that rotates every round:

   - ``responses``: ``client.responses.create`` with the same instructions, the question
     as ``input``, ``max_output_tokens`` ``--max-tokens`` (32), ``temperature`` 0;
   - ``create_and_poll``: ``client.beta.threads.runs.create_and_poll`` on a thread made
     just before (not timed) holding the question, ``max_completion_tokens`` the same,
     ``temperature`` 0, the SDK's default polling (it follows the server's
     ``openai-poll-after-ms``);
   - ``create_and_run_poll``: ``client.beta.threads.create_and_run_poll`` with the
     question as the new thread's message (the thread's creation is timed too).

   The prompts are the same (a run renders the assistant's instructions and the thread's
   one message as Responses does), so at temperature 0 the answers are the same tokens
   (``output_tokens`` records them). Figures: each side's median wall time and the median
   over rounds of side ÷ ``responses``. **Goal: create_and_poll ÷ responses <= 1.1.**

2. **Long threads.** Two threads, one of ``--short`` (10) messages and one of ``--long``
   (200), each message about 60 tokens (the long one is more than the context holds, so
   ``truncation: auto`` leaves its oldest messages out). Each of ``--turns`` (6) turns
   adds a user message to each thread (alternating which goes first) and streams a run
   (``runs.stream``, ``max_completion_tokens`` 8); the figure is the time from the
   request to the first ``thread.message.delta`` (run start latency: truncation, prompt,
   prefill), and the run's ``prompt_tokens``. The first turn is cold for both threads; the
   later ones are what a conversation sees (its earlier prompt is in the prompt cache when
   the prompt's start did not move). Figures: medians of turns 2.. and long ÷ short.
   **Goal: <= 2.**

Prints one JSON document on stdout (progress goes to stderr); nothing here asserts on the
figures.

Usage: .venv/bin/python benchmarks/assistants.py [--rounds 10] [--max-tokens 32]
           [--short 10] [--long 200] [--turns 6]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))

from serving import (  # noqa: E402
    API_KEY,
    MODEL_ID,
    finite,
    free_port,
    hearth_command,
    server,
)

from hearth import __version__ as hearth_version  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SDK's Assistants marks

INSTRUCTIONS = "You are a helpful assistant. Answer in one short paragraph."
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
)
FILLER = (
    "The lighthouse keeper wrote in the logbook that the wind turned north at dawn, the "
    "supply boat was late again, and the lamp needed new wicks before the winter storms."
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_overhead(client: openai.OpenAI, rounds: int, max_tokens: int) -> dict[str, Any]:
    assistant = client.beta.assistants.create(model=MODEL_ID, instructions=INSTRUCTIONS)
    sides = ("responses", "create_and_poll", "create_and_run_poll")
    times: dict[str, list[float]] = {s: [] for s in sides}
    tokens: dict[str, list[int]] = {s: [] for s in sides}

    def one(side: str, question: str) -> None:
        thread = None
        if side == "create_and_poll":
            thread = client.beta.threads.create(messages=[{"role": "user", "content": question}])
        started = time.perf_counter()
        if side == "responses":
            response = client.responses.create(
                model=MODEL_ID,
                instructions=INSTRUCTIONS,
                input=question,
                max_output_tokens=max_tokens,
                temperature=0,
            )
            elapsed = time.perf_counter() - started
            assert response.usage is not None
            used = response.usage.output_tokens
        else:
            if thread is not None:
                run = client.beta.threads.runs.create_and_poll(
                    thread_id=thread.id,
                    assistant_id=assistant.id,
                    max_completion_tokens=max_tokens,
                    temperature=0,
                )
            else:
                run = client.beta.threads.create_and_run_poll(
                    assistant_id=assistant.id,
                    thread={"messages": [{"role": "user", "content": question}]},
                    max_completion_tokens=max_tokens,
                    temperature=0,
                )
            elapsed = time.perf_counter() - started
            assert run.status in ("completed", "incomplete"), run.last_error
            assert run.usage is not None
            used = run.usage.completion_tokens
        times[side].append(elapsed)
        tokens[side].append(used)

    for side in sides:
        one(side, "Warm up.")
    for side in sides:
        times[side].clear()
        tokens[side].clear()
    for r in range(rounds):
        question = QUESTIONS[r % len(QUESTIONS)] + f" (question {r})"
        order = sides[r % 3 :] + sides[: r % 3]
        for side in order:
            one(side, question)
        log(f"  round {r + 1}: " + ", ".join(f"{s} {times[s][-1]:.3f} s" for s in sides))
    return {
        "rounds": rounds,
        "max_tokens": max_tokens,
        "median_s": {s: median(times[s]) for s in sides},
        "over_responses_median": {
            s: median([a / b for a, b in zip(times[s], times["responses"], strict=True)])
            for s in sides[1:]
        },
        "output_tokens_same": all(tokens[s] == tokens["responses"] for s in sides[1:]),
        "output_tokens": tokens,
        "times_s": times,
    }


def thread_of(client: openai.OpenAI, messages: int, tag: str) -> str:
    thread = client.beta.threads.create(metadata={"tag": tag})
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        client.beta.threads.messages.create(
            thread.id, role=role, content=f"{tag} message {i}: {FILLER}"
        )
    return thread.id


def run_start(
    client: openai.OpenAI, assistant_id: str, thread_id: str, turn: int
) -> dict[str, Any]:
    client.beta.threads.messages.create(
        thread_id, role="user", content=f"Turn {turn}: what did the keeper write?"
    )
    started = time.perf_counter()
    first = None
    with client.beta.threads.runs.stream(
        thread_id=thread_id, assistant_id=assistant_id, max_completion_tokens=8, temperature=0
    ) as stream:
        for event in stream:
            if first is None and event.event == "thread.message.delta":
                first = time.perf_counter() - started
        run = stream.get_final_run()
    assert run.usage is not None
    return {
        "first_delta_s": first,
        "total_s": time.perf_counter() - started,
        "prompt_tokens": run.usage.prompt_tokens,
        "status": run.status,
    }


def long_threads(client: openai.OpenAI, short: int, long: int, turns: int) -> dict[str, Any]:
    assistant = client.beta.assistants.create(model=MODEL_ID, instructions=INSTRUCTIONS)
    log(f"  making threads of {short} and {long} messages")
    threads = {"short": thread_of(client, short, "S"), "long": thread_of(client, long, "L")}
    runs: dict[str, list[dict[str, Any]]] = {"short": [], "long": []}
    for turn in range(turns):
        order = ("short", "long") if turn % 2 == 0 else ("long", "short")
        for side in order:
            runs[side].append(run_start(client, assistant.id, threads[side], turn))
        log(
            f"  turn {turn + 1}: "
            + ", ".join(
                f"{s} {runs[s][-1]['first_delta_s']:.3f} s ({runs[s][-1]['prompt_tokens']} tok)"
                for s in ("short", "long")
            )
        )
    warm = {s: [r["first_delta_s"] for r in runs[s][1:] if r["first_delta_s"]] for s in runs}
    return {
        "messages": {"short": short, "long": long},
        "turns": turns,
        "first_delta_median_s": {s: median(v) for s, v in warm.items()},
        "long_over_short": median(warm["long"]) / median(warm["short"]),
        "cold_first_delta_s": {s: runs[s][0]["first_delta_s"] for s in runs},
        "runs": runs,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="run overhead rounds (10)")
    parser.add_argument("--max-tokens", type=int, default=32, help="answer length cap (32)")
    parser.add_argument("--short", type=int, default=10, help="short thread messages (10)")
    parser.add_argument("--long", type=int, default=200, help="long thread messages (200)")
    parser.add_argument("--turns", type=int, default=6, help="turns per thread (6)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.max_tokens, args.short, args.long, args.turns) < 1:
        parser.error("every count must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    import json

    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env["HEARTH_LOG_LEVEL"] = "warning"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-bench-assistants-") as tmp:
        port = free_port()
        log_path = Path(tmp) / "serve.log"
        with server(
            hearth_command(port, Path(tmp) / "data"), env, port, log_path, "/v1/models"
        ) as running:
            log(f"hearth serve ready on port {port} after {running.startup_s:.1f} s")
            client = openai.OpenAI(
                base_url=f"{running.base}/v1", api_key=API_KEY, max_retries=0, timeout=600
            )
            log(f"run overhead: {args.rounds} rounds")
            overhead = run_overhead(client, args.rounds, args.max_tokens)
            log(f"long threads: {args.turns} turns")
            threads = long_threads(client, args.short, args.long, args.turns)
        problems = [
            line
            for line in log_path.read_text(errors="replace").splitlines()
            if "Traceback" in line or "ERROR" in line
        ]
    doc = {
        "benchmark": "assistants",
        "model": MODEL_ID,
        "environment": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "hearth": hearth_version,
            "openai": openai.__version__,
        },
        "goals": {
            "run_overhead.over_responses_median.create_and_poll": "<= 1.1",
            "long_threads.long_over_short": "<= 2",
        },
        "run_overhead": overhead,
        "long_threads": threads,
        "server_log_problems": problems,
        "total_seconds": time.perf_counter() - started,
    }
    print(json.dumps(finite(doc), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
