"""The verification API under load (wrk), the batch check, and the server's memory meanwhile.

On SQLite, and on PostgreSQL when ``BENCH_DATABASE_URL`` names a database of the benchmark's own:

1. ``GET /api/v1/registrations/{number}`` at 32 connections with a platform key, against the
   portal and, in the same run, against a bare Starlette endpoint doing only the same
   primary-key read (bench/bare.py: sqlite3 on the event loop; psycopg's async pool on the
   event loop), each served by uvicorn with one worker. Twice: cycling through every seeded
   number (cold), and through the same 100 numbers (hot); three pairs of runs of each
   (``BENCH_REPEATS``), the median reported. The portal must reach 0.8 of the
   bare endpoint's requests per second, with p99 ≤ 10 ms (SQLite) or 25 ms (PostgreSQL) and
   no error (a non-2xx answer or a socket error).
2. ``POST /api/v1/registrations/verify`` with 1,000 numbers: p50 ≤ 50 ms.
3. PostgreSQL: ``portal serve --workers 2`` ≥ 1.6 × one worker's requests per second.
4. The portal process's peak resident memory (VmHWM) after that load: ≤ 200 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Result, median
from bench.context import Context, Server, clean_environ, free_port, log
from bench.cpu import Meter, Usage

CONNECTIONS = 32
HOT_NUMBERS = 100  # the hot run: the same numbers over and over
RATIO = 0.8
P99 = {"SQLite": 10.0, "PostgreSQL": 25.0}
WORKERS_GAIN = 1.6
DURATION = float(os.environ.get("BENCH_DURATION", "10"))  # seconds of each measured run
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))  # pairs of runs (bare, portal) of each kind
WARMUP = 2.0
LUA = Path(__file__).with_name("verify.lua")
BATCH = 1000
BATCH_CALLS = 30


def find_wrk() -> str | None:
    """wrk's path; installed with apt-get when missing and this runs as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk is missing: apt-get install -y wrk")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
        if subprocess.run(install, env=env, stdout=sys.stderr).returncode != 0:  # noqa: S603
            subprocess.run(["apt-get", "update"], env=env, stdout=sys.stderr)  # noqa: S607
            subprocess.run(install, env=env, stdout=sys.stderr)  # noqa: S603
        return shutil.which("wrk")
    log("wrk is missing, so the load test is skipped. Install it and run again: "
        "`sudo apt-get install wrk` (Debian, Ubuntu), `brew install wrk` (macOS), "
        "or build https://github.com/wg/wrk")
    return None


@dataclass
class Load:
    requests: int
    seconds: float
    socket_errors: int
    non2xx: int
    example_status: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    usage: Usage | None = None  # cores used by the server, PostgreSQL and wrk meanwhile

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non2xx

    def describe(self) -> str:
        text = (f"{self.requests:,} requests in {self.seconds:.1f} s; latency p50 "
                f"{self.p50_ms:.1f} ms, p90 {self.p90_ms:.1f} ms, max {self.max_ms:.0f} ms")
        if self.errors:
            text += (f"; {self.non2xx} non-2xx (e.g. HTTP {self.example_status}), "
                     f"{self.socket_errors} socket errors")
        return text


def wrk_run(wrk: str, url: str, numbers_file: Path, key: str, seconds: float) -> Load:
    threads = 1 if (os.cpu_count() or 1) <= 2 else 2
    command = [wrk, f"-t{threads}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "5s",
               "-s", str(LUA), url, "--", str(numbers_file), key]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = data["errors"]
    latency = data["latency_us"]
    return Load(
        requests=data["requests"], seconds=data["duration_us"] / 1e6,
        # wrk's "status" errors (HTTP > 399) are among the non-2xx answers counted in Lua.
        socket_errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        non2xx=data["non2xx"], example_status=data["example_status"],
        p50_ms=latency["p50"] / 1000, p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000, max_ms=latency["max"] / 1000)


def measure(wrk: str, server: Server, numbers_file: Path, key: str, name: str) -> Load:
    wrk_run(wrk, server.url, numbers_file, key, WARMUP)
    log(f"wrk: {name}, {CONNECTIONS} connections, {DURATION:g} s")
    with Meter(server.pid) as meter:
        load = wrk_run(wrk, server.url, numbers_file, key, DURATION)
    load.usage = meter.usage
    log(f"  {load.rps:,.0f} requests/s; {load.describe()}")
    if load.usage is not None:
        log(f"  {load.usage.describe()}")
    return load


def cpu_note(load: Load) -> str:
    return f"; {load.usage.describe()}" if load.usage is not None else ""


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a process (Linux), in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def batch_verify(url: str, key: str, numbers: list[str], label: str) -> Result:
    import httpx2

    url = url + "/api/v1/registrations/verify"
    headers = {"Authorization": f"Bearer {key}"}
    samples = []
    with httpx2.Client(headers=headers, timeout=30) as client:
        for call in range(3 + BATCH_CALLS):
            start = call * BATCH
            chosen = [numbers[(start + i) % len(numbers)] for i in range(BATCH)]
            began = time.perf_counter()
            answer = client.post(url, json={"numbers": chosen})
            elapsed = (time.perf_counter() - began) * 1000
            if answer.status_code != 200 or len(answer.json()["results"]) != BATCH:
                raise RuntimeError(f"batch verify answered {answer.status_code}: "
                                   f"{answer.text[:300]}")
            if call >= 3:
                samples.append(elapsed)
    note = (f"{BATCH_CALLS} calls of {BATCH:,} numbers (httpx, one connection); "
            f"max {max(samples):.0f} ms")
    return Result(f"Batch verify ({label}), {BATCH:,} numbers per call, p50", median(samples),
                  "ms", 50, note=note)


def skipped_rows(label: str, why: str) -> list[Result]:
    return [Result(f"Verification API ({label}), portal ÷ bare requests/s", None, "×", RATIO,
                   True, note=why),
            Result(f"Verification API ({label}) p99", None, "ms", P99[label], note=why),
            Result(f"Verification API ({label}) errors", None, "", 0, note=why)]


def compare(ctx: Context, wrk: str, label: str, bare_command: list[str], portal_server: Server,
            key: str, files: dict[str, Path]) -> list[Result]:
    """The bare ceiling and the portal, cold and hot: ``REPEATS`` pairs of runs, each pair one
    after the other with both servers up, so that a passing disturbance of the machine (another
    process, the hypervisor) lands in one pair; the pair of the median ratio is reported."""
    port = free_port()
    server = ctx.start_server(f"bare-{label.lower()}", [*bare_command, "--port", str(port)],
                              clean_environ(), port)
    pairs: dict[str, list[tuple[Load, Load]]] = {kind: [] for kind in files}
    try:
        for round_ in range(1, REPEATS + 1):
            for kind, path in files.items():
                tag = f"{label}, {kind}, pair {round_} of {REPEATS}"
                ceiling = measure(wrk, server, path, "", f"bare ({tag})")
                portal = measure(wrk, portal_server, path, key, f"portal ({tag})")
                pairs[kind].append((ceiling, portal))
    finally:
        server.stop()
    rows: list[Result] = []
    where = f"{CONNECTIONS} connections"
    for kind in files:
        ordered = sorted(pairs[kind], key=lambda pair: pair[1].rps / pair[0].rps)
        ceiling, portal = ordered[len(ordered) // 2]
        ratios = ", ".join(f"{p.rps / b.rps:.2f}" for b, p in pairs[kind])
        numbers = (f"{ctx.registrations:,} numbers" if kind == "cold"
                   else f"the same {HOT_NUMBERS} numbers")
        tag = f"{label}, {kind}"
        rows += [
            Result(f"Verification API ({tag}), bare ceiling", ceiling.rps, "req/s",
                   note=f"{numbers}, {where}; {ceiling.describe()}; p99 "
                        f"{ceiling.p99_ms:.1f} ms{cpu_note(ceiling)}"),
            Result(f"Verification API ({tag}), portal", portal.rps, "req/s",
                   note=f"{numbers}, {where}; {portal.describe()}{cpu_note(portal)}"),
            Result(f"Verification API ({tag}), portal ÷ bare requests/s",
                   portal.rps / ceiling.rps, "×", RATIO, True,
                   note=f"the median of {REPEATS} pairs of runs: {ratios}"),
            Result(f"Verification API ({tag}) p99", portal.p99_ms, "ms", P99[label],
                   note=f"bare endpoint: {ceiling.p99_ms:.1f} ms in the same pair; at "
                        f"{CONNECTIONS} connections a server answering {portal.rps:,.0f} "
                        f"requests a second keeps each waiting "
                        f"{CONNECTIONS / portal.rps * 1000:.1f} ms on average (Little's law)"),
            Result(f"Verification API ({tag}) errors (non-2xx or socket)",
                   sum(p.errors for _b, p in pairs[kind]), "", 0,
                   note="; ".join(f"{p.non2xx} non-2xx (e.g. HTTP {p.example_status}), "
                                  f"{p.socket_errors} socket errors"
                                  for _b, p in pairs[kind] if p.errors)),
        ]
        ctx.notes[f"load {tag}"] = {
            "portal_rps": round(portal.rps), "bare_rps": round(ceiling.rps),
            "portal_p99_ms": portal.p99_ms, "bare_p99_ms": ceiling.p99_ms,
            "ratios": [round(p.rps / b.rps, 3) for b, p in pairs[kind]],
            "portal_cores": portal.usage.as_dict() if portal.usage else None,
            "bare_cores": ceiling.usage.as_dict() if ceiling.usage else None}
    return rows


def numbers_files(ctx: Context) -> dict[str, Path]:
    cold = ctx.work / "numbers.txt"
    cold.write_text("\n".join(ctx.numbers) + "\n")
    hot = ctx.work / "numbers-hot.txt"
    hot.write_text("\n".join(ctx.numbers[:HOT_NUMBERS]) + "\n")
    return {"cold": cold, "hot": hot}


def run_sqlite(ctx: Context, wrk: str | None) -> list[Result]:
    if wrk is None:
        return skipped_rows("SQLite", "wrk is not installed (sudo apt-get install wrk)")
    files = numbers_files(ctx)
    server = ctx.server
    rows = compare(ctx, wrk, "SQLite", [sys.executable, "-m", "bench.bare", "--db",
                                        str(ctx.db_path)], server, ctx.platform_key, files)
    port = free_port()
    threaded = ctx.start_server("bare-threads", [sys.executable, "-m", "bench.bare", "--db",
                                                 str(ctx.db_path), "--threads", "--port",
                                                 str(port)], clean_environ(), port)
    try:
        load = measure(wrk, threaded, files["cold"], "", "bare (thread pool)")
    finally:
        threaded.stop()
    rows.append(Result("Verification API (SQLite), bare in the thread pool", load.rps, "req/s",
                       note=f"a sync bare endpoint, Starlette's usual form for a blocking read; "
                            f"p99 {load.p99_ms:.1f} ms"))
    peak = peak_rss_mb(server.pid)
    rows.append(batch_verify(server.url, ctx.platform_key, ctx.numbers, "SQLite"))
    rows.append(Result("Server peak RSS under the verification load (SQLite)", peak, "MB", 200,
                       note="portal serve, one worker: VmHWM after the verification load"))
    return rows


def run_postgres(ctx: Context, wrk: str | None) -> list[Result]:
    if not ctx.database_url:
        why = "BENCH_DATABASE_URL is not set (a PostgreSQL database the benchmark may empty)"
        return [*skipped_rows("PostgreSQL", why),
                Result("Batch verify (PostgreSQL), 1,000 numbers per call, p50", None, "ms",
                       50, note=why),
                Result("Verification API (PostgreSQL), 2 workers ÷ 1 worker", None, "×",
                       WORKERS_GAIN, True, note=why)]
    if wrk is None:
        return skipped_rows("PostgreSQL", "wrk is not installed (sudo apt-get install wrk)")
    files = numbers_files(ctx)
    url = ctx.postgres_url
    one = ctx.start_portal("portal-pg", postgres=True)
    try:
        rows = compare(ctx, wrk, "PostgreSQL", [sys.executable, "-m", "bench.bare", "--pg",
                                                url], one, ctx.pg_platform_key, files)
        single = ctx.notes["load PostgreSQL, cold"]["portal_rps"]  # type: ignore[index]
        peak = peak_rss_mb(one.pid)
        rows.append(batch_verify(one.url, ctx.pg_platform_key, ctx.numbers, "PostgreSQL"))
        rows.append(Result("Server peak RSS under the verification load (PostgreSQL)", peak,
                           "MB", 200, note="portal serve, one worker: VmHWM after the load"))
    finally:
        one.stop()
    two = ctx.start_portal("portal-pg-2", postgres=True, workers=2)
    try:
        loads = sorted((measure(wrk, two, files["cold"], ctx.pg_platform_key,
                                f"portal (PostgreSQL, --workers 2), run {i} of {REPEATS}")
                        for i in range(1, REPEATS + 1)), key=lambda load: load.rps)
    finally:
        two.stop()
    load = loads[len(loads) // 2]
    one_cores = ctx.notes["load PostgreSQL, cold"]["portal_cores"]  # type: ignore[index]
    one_used = (f"; one worker's run, cores used: server {one_cores['server']:.2f}, "
                f"PostgreSQL {one_cores['postgres']:.2f}, wrk {one_cores['wrk']:.2f}, idle "
                f"{one_cores['idle']:.2f}" if one_cores else "")
    rows.append(Result("Verification API (PostgreSQL), 2 workers ÷ 1 worker", load.rps / single,
                       "×", WORKERS_GAIN, True,
                       note=f"--workers 2 (median of {REPEATS} runs): {load.rps:,.0f} req/s, "
                            f"p99 {load.p99_ms:.1f} ms; one worker {single:,} req/s; "
                            f"{os.cpu_count()} cores shared with PostgreSQL and wrk"
                            f"{cpu_note(load)}{one_used}"))
    return rows


def run(ctx: Context) -> list[Result]:
    wrk = find_wrk()
    return [*run_sqlite(ctx, wrk), *run_postgres(ctx, wrk)]
