"""The verification API under load (wrk), the batch check, and the server's memory meanwhile.

1. ``GET /api/v1/registrations/{number}`` at 32 connections, cycling through every seeded number
   with a platform key, against the portal and against a bare Starlette endpoint doing only the
   same primary-key read (bench/bare.py), each served alone by uvicorn with one worker: the
   portal must reach 0.6 of the bare endpoint's requests per second, with p99 ≤ 20 ms and no
   error (a non-2xx answer or a socket error).
2. ``POST /api/v1/registrations/verify`` with 1,000 numbers: p50 ≤ 50 ms.
6. The portal process's peak resident memory (VmHWM) after that load: ≤ 200 MB.
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
from bench.context import Context, clean_environ, free_port, log

CONNECTIONS = 32
DURATION = float(os.environ.get("BENCH_DURATION", "10"))  # seconds of each measured run
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


def measure(wrk: str, url: str, numbers_file: Path, key: str, name: str) -> Load:
    wrk_run(wrk, url, numbers_file, key, WARMUP)
    log(f"wrk: {name}, {CONNECTIONS} connections, {DURATION:g} s")
    load = wrk_run(wrk, url, numbers_file, key, DURATION)
    log(f"  {load.rps:,.0f} requests/s; {load.describe()}")
    return load


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


def batch_verify(ctx: Context) -> Result:
    import httpx2

    numbers = ctx.numbers
    url = ctx.server_url + "/api/v1/registrations/verify"
    headers = {"Authorization": f"Bearer {ctx.platform_key}"}
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
    return Result(f"Batch verify, {BATCH:,} numbers per call, p50", median(samples), "ms",
                  50, note=note)


def run(ctx: Context) -> list[Result]:
    results: list[Result] = []
    wrk = find_wrk()
    numbers_file = ctx.work / "numbers.txt"
    numbers_file.write_text("\n".join(ctx.numbers) + "\n")
    where = f"{ctx.registrations:,} registrations, {CONNECTIONS} connections"
    if wrk is None:
        skipped = "wrk is not installed (sudo apt-get install wrk)"
        results += [Result("Verification API, portal ÷ bare requests/s", None, "×", 0.6, True,
                           note=skipped),
                    Result("Verification API p99", None, "ms", 20, note=skipped),
                    Result("Verification API errors", None, "", 0, note=skipped)]
    else:
        measured = {}
        for name, extra in (("bare", []), ("bare-threads", ["--threads"])):
            port = free_port()
            bare = ctx.start_server(
                name, [sys.executable, "-m", "bench.bare", "--db", str(ctx.db_path),
                       "--port", str(port), *extra], clean_environ(), port)
            try:
                measured[name] = measure(wrk, bare.url, numbers_file, "",
                                         f"bare Starlette endpoint{' (thread pool)' * bool(extra)}")
            finally:
                bare.stop()
        ceiling, threaded = measured["bare"], measured["bare-threads"]
        portal = measure(wrk, ctx.server_url, numbers_file, ctx.platform_key, "portal")
        ratio = portal.rps / ceiling.rps
        results += [
            Result("Verification API, bare Starlette ceiling", ceiling.rps, "req/s",
                   note=f"{where}; {ceiling.describe()}"),
            Result("Verification API, portal", portal.rps, "req/s",
                   note=f"{where}; {portal.describe()}"),
            Result("Verification API, portal ÷ bare requests/s", ratio, "×", 0.6, True,
                   note="bare: the read on the event loop, Starlette's fastest form"),
            Result("Verification API, portal ÷ bare in the thread pool", portal.rps / threaded.rps,
                   "×", note=f"a sync bare endpoint, Starlette's usual form for a blocking "
                   f"read: {threaded.rps:,.0f} req/s, p99 {threaded.p99_ms:.1f} ms"),
            Result("Verification API p99", portal.p99_ms, "ms", 20,
                   note=f"bare endpoint: {ceiling.p99_ms:.1f} ms"),
            Result("Verification API errors (non-2xx or socket)", portal.base.errors, "", 0,
                   note=(f"{portal.non2xx} non-2xx (e.g. HTTP {portal.example_status}), "
                         f"{portal.socket_errors} socket errors" if portal.base.errors else "")),
        ]
    peak = peak_rss_mb(ctx.server_pid) if wrk is not None else None
    results.append(batch_verify(ctx))
    memory_note = ("portal serve, one worker: VmHWM after the verification load"
                   if wrk is not None else "needs the verification load (wrk)")
    if peak is None and wrk is not None:
        memory_note = "no /proc/<pid>/status on this system"
    results.append(Result("Server peak RSS under the verification load", peak, "MB", 200,
                          note=memory_note))
    return results
