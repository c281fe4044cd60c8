"""A mixed load on PostgreSQL: two ``portal serve`` processes sharing Redis, as production runs.

Needs ``BENCH_DATABASE_URL`` (the seed copied into it, bench/postgres.py) and Redis
(``BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/5``: rate limits shared by both
processes). ``BENCH_MIXED_SECONDS`` long (600 in ``make bench``; shorter for a quick run), at
a steady pace (``BENCH_MIXED_RATE`` verifications a second, 400 by default): the verification API
(90 %, wrk with a paced script, 4 connections to each server), an applicant's wizard step
(5 %: two threads each walk their own applicants through sign-up, login and every step to the
submission, on both servers in turn; the step saves and the submission are timed, sign-up and
login are not) and an auditor's search through the API (5 %, two threads: by number, by name,
by status). A paced load measures the answers' latency at a given traffic, not the most the
machine can take (the api suite does that); wrk keeps the client's own time out of the
verification figures. Targets: no error (any answer but the
expected one, or a failed connection), p99 of each kind (verification ≤ 25 ms, wizard step
and search ≤ 150 ms), and the servers' memory flat: their resident memory (VmRSS, both
processes) at the end within 10 % of what it was after the warm-up (the first tenth of the
run, at least 5 s).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import Result, percentile
from bench.context import Context, clean_environ, log, portal_command
from bench.cpu import Meter

SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", "600"))
# Verifications a second, both servers together (wrk, CONNECTIONS per server, paced); wizard
# steps and searches at 5 % each of all requests (THREADS_PER_KIND paced threads each).
VERIFY_RATE = int(os.environ.get("BENCH_MIXED_RATE", "400"))
CONNECTIONS = 4
THREADS_PER_KIND = 2
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
P99 = {"verification": 25.0, "wizard step": 150.0, "auditor search": 150.0}
MEMORY_GROWTH = 0.10


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def authority_key(ctx: Context) -> str:
    done = subprocess.run(  # noqa: S603
        [*portal_command(), "create-authority", f"Benchmark authority {os.getpid()}-"
         f"{time.time_ns()}"],
        env=clean_environ(PORTAL_DATA_DIR=str(ctx.data_dir),
                          PORTAL_DATABASE_URL=ctx.postgres_url),
        check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


class Walker:
    """One applicant at a time through the wizard, a step per call; a new one after submitting."""

    def __init__(self, base: str, ctx: Context, serial: str) -> None:
        import httpx2

        self.http = httpx2.Client(base_url=base, follow_redirects=False, timeout=30)
        self.ctx = ctx
        self.serial = serial
        self.count = 0
        self.steps: list[str] = []
        self.applicant: Any = None

    def _new_applicant(self) -> None:
        from sqlalchemy import create_engine, text

        from bench import wizard

        self.count += 1
        self.http.cookies.clear()
        applicant = wizard.Applicant(self.http)
        email = f"mixed-{self.serial}-{self.count}@example.com"
        applicant.refresh_token("/signup")
        applicant.post("/signup", {"email": email, "password": wizard.PASSWORD,
                                   "password_confirm": wizard.PASSWORD})
        engine = create_engine(self.ctx.postgres_url)
        try:
            with engine.begin() as conn:  # as the emailed link would
                conn.execute(text("UPDATE users SET email_verified_at = now() "
                                  "WHERE email = :e"), {"e": email})
        finally:
            engine.dispose()
        applicant.refresh_token("/login")
        applicant.post("/login", {"email": email, "password": wizard.PASSWORD})
        applicant.refresh_token()
        applicant.post("/apply/start", {})
        self.applicant = applicant
        self.answers = wizard.forms(self.count + int(self.serial, 36) % 1000)
        self.steps = [s for s in wizard.STEPS if s != "guardian" or self.answers[s]]

    def step(self) -> float:
        """One timed step save (or the submission), in ms."""
        from bench import wizard

        if not self.steps:
            self._new_applicant()
        step = self.steps.pop(0)
        data = self.answers[step]
        files = wizard.UPLOADS[step][1]() if step in wizard.UPLOADS else None
        path = "/apply/review" if step == "review" else f"/apply/{step}"
        return float(self.applicant.post(path, data, files))


def paced_script(ctx: Context) -> Path:
    """bench/verify.lua with a ``delay()``: each connection waits DELAY_MS between requests."""
    path = ctx.work / "verify-paced.lua"
    path.write_text(Path(__file__).with_name("verify.lua").read_text()
                    + "\nfunction delay()\n   return pause\nend\n")
    return path


def run(ctx: Context) -> list[Result]:
    import httpx2

    from bench.api import find_wrk

    names = ["Mixed load errors", *(f"Mixed load, {kind} p99" for kind in P99),
             "Mixed load, server memory growth"]
    wrk = find_wrk()
    if not ctx.database_url or wrk is None:
        why = ("BENCH_DATABASE_URL is not set (a PostgreSQL database the benchmark may empty)"
               if not ctx.database_url else "wrk is not installed")
        return [Result(name, None, "", note=why) for name in names]
    import redis

    redis.Redis.from_url(REDIS).flushdb()  # the benchmark's own database number
    servers = [ctx.start_portal(f"portal-mixed-{i}", postgres=True, PORTAL_REDIS_URL=REDIS)
               for i in (1, 2)]
    platform_key = ctx.pg_platform_key
    authority = authority_key(ctx)
    numbers = ctx.numbers
    numbers_file = ctx.work / "numbers-mixed.txt"
    numbers_file.write_text("\n".join(numbers) + "\n")
    surnames = "王李张刘陈杨黄赵吴周"
    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    examples: list[str] = []
    lock = threading.Lock()
    started = time.monotonic()
    warm = max(5.0, SECONDS / 10)
    deadline = started + SECONDS
    memory: dict[str, float] = {}
    # Each of the other kinds at a twentieth of the verifications' rate (5 % each).
    other_rate = VERIFY_RATE / 18

    def paced(kind: str, index: int) -> None:
        rng = random.Random(index)
        bases = [s.url for s in servers]
        api = {b: httpx2.Client(base_url=b, timeout=30) for b in bases}
        walkers = {b: Walker(b, ctx, f"{os.getpid()}x{index}x{n}") for n, b in enumerate(bases)}
        interval = THREADS_PER_KIND / other_rate
        turn = index
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
            turn += 1
            base = bases[turn % len(bases)]
            began = time.perf_counter()
            try:
                if kind == "auditor search":
                    choice = rng.randrange(3)
                    params = ({"q": rng.choice(numbers)} if choice == 0 else
                              {"q": rng.choice(surnames)} if choice == 1 else
                              {"status": "approved"})
                    answer = api[base].get("/api/v1/audit/registrations", params=params,
                                           headers={"Authorization": f"Bearer {authority}"})
                    if answer.status_code != 200:
                        raise RuntimeError(f"HTTP {answer.status_code} {answer.text[:200]}")
                    elapsed = (time.perf_counter() - began) * 1000
                else:
                    elapsed = walkers[base].step()
            except Exception as exc:  # every failure is counted and one of each kept
                with lock:
                    errors[kind] += 1
                    if len(examples) < 5:
                        examples.append(f"{kind}: {exc!r}"[:300])
                continue
            with lock:
                samples[kind].append(elapsed)

    threads = [threading.Thread(target=paced, args=(kind, i), daemon=True)
               for kind in ("wizard step", "auditor search") for i in range(THREADS_PER_KIND)]
    # Verifications: wrk against each server, CONNECTIONS connections each, paced.
    script = paced_script(ctx)
    # Each connection waits between answers: its share of the rate, less a typical answer's time.
    pause_ms = max(1, round(1000 * CONNECTIONS * len(servers) / VERIFY_RATE) - 5)
    loads = [subprocess.Popen(  # noqa: S603
        [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{SECONDS:g}s", "--timeout", "5s", "-s",
         str(script), server.url, "--", str(numbers_file), platform_key,
         str(pause_ms)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for server in servers]
    log(f"mixed load: 2 servers on PostgreSQL with Redis, {SECONDS:g} s; verifications "
        f"paced for {VERIFY_RATE}/s (wrk), wizard steps and searches {other_rate:.0f}/s each")
    for thread in threads:
        thread.start()
    time.sleep(min(warm, SECONDS))
    memory["warm"] = sum(rss_mb(s.pid) for s in servers)
    verification = []
    # Where the CPU went after the warm-up: both servers, PostgreSQL, wrk, and the rest (this
    # process's walkers and searches, Redis).
    with Meter(*(s.pid for s in servers)) as meter:
        for load in loads:
            out, err = load.communicate()
            line = next((x for x in out.splitlines() if x.startswith("BENCH_RESULT ")), None)
            if line is None:
                raise RuntimeError(f"wrk printed no result:\n{out}\n{err}")
            verification.append(json.loads(line.removeprefix("BENCH_RESULT ")))
        for thread in threads:
            thread.join()
    if meter.usage is not None:
        log(f"  {meter.usage.describe()} (servers: both)")
    memory["end"] = sum(rss_mb(s.pid) for s in servers)
    for server in servers:
        server.stop()
    seconds = time.monotonic() - started
    verified = sum(v["requests"] for v in verification)
    errors["verification"] = sum(
        v["non2xx"] + v["errors"]["connect"] + v["errors"]["read"] + v["errors"]["write"]
        + v["errors"]["timeout"] for v in verification)
    counts = {"verification": verified,
              **{kind: len(samples[kind]) for kind in ("wizard step", "auditor search")}}
    total = sum(counts.values())
    log(f"  {total:,} requests in {seconds:.0f} s; errors {dict(errors)}")
    mix = ", ".join(f"{kind} {n:,} ({100 * n / total:.1f} %)" for kind, n in counts.items())
    results = [Result("Mixed load errors", float(sum(errors.values())), "", 0,
                      note=(f"{total:,} answers in {seconds:.0f} s ({total / seconds:,.0f}/s): "
                            f"{mix}; " + ("; ".join(examples) or "none failed")
                            + (f"; {meter.usage.describe()} (servers: both)"
                               if meter.usage is not None else "")))]
    # wrk's percentiles per server: the worse of the two.
    results.append(Result(
        "Mixed load, verification p99", max(v["latency_us"]["p99"] for v in verification) / 1000,
        "ms", P99["verification"], note=f"{verified:,} answers (wrk, both servers), p50 "
        f"{max(v['latency_us']['p50'] for v in verification) / 1000:.1f} ms"))
    for kind in ("wizard step", "auditor search"):
        values = samples[kind]
        results.append(Result(
            f"Mixed load, {kind} p99", percentile(values, 99) if values else None, "ms",
            P99[kind], note=(f"{len(values):,} answers, p50 {percentile(values, 50):.1f} ms"
                             if values else "none answered")))
    growth = (memory["end"] - memory["warm"]) / memory["warm"] if memory["warm"] else None
    results.append(Result("Mixed load, server memory growth", growth, "×", MEMORY_GROWTH,
                          note=f"both processes' VmRSS: {memory['warm']:.0f} MB after "
                               f"{warm:.0f} s of warm-up, {memory['end']:.0f} MB at the end"))
    return results
