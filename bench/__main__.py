"""Run the benchmarks and print one table: measurement, figure, target, pass or miss.

    python -m bench [SUITE ...] [--registrations N] [--json] [--output FILE] [--keep]

A suite is a module of this package with ``run(ctx: Context) -> list[Result]``; ``ctx``
(bench/context.py) seeds, copies and serves on demand and is shared by every suite of the run.
Running every suite writes bench/results.json (machine, date, N and every row).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sqlite3
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Result
from bench.context import DEFAULT_REGISTRATIONS, ROOT, Context, log

# In the order of the table. "search" (auditor search and export at 1,000,000) is run when
# bench/search.py exists.
SUITES = {
    "api": "GET /api/v1/registrations/{number} under load (wrk), batch verify, server memory",
    "tlog": "transparency log: appends per second, proofs at 1,000,000 leaves",
    "wizard": "applicant wizard: server time of each step's POST",
    "search": "auditor search and export at 1,000,000 (bench/search.py)",
    "passwords": "argon2id hashing",
    "pages": "server-rendered pages",
    "mixed": "PostgreSQL, two servers and Redis: verification, wizard and search at once "
             "(BENCH_MIXED_SECONDS, 600 by default)",
}
MODULES = {"api": "bench.api", "tlog": "bench.transparency", "wizard": "bench.wizard",
           "search": "bench.search", "passwords": "bench.passwords", "pages": "bench.pages",
           "mixed": "bench.mixed"}
RESULTS = ROOT / "bench" / "results.json"


def available(name: str) -> bool:
    return importlib.util.find_spec(MODULES[name]) is not None


def machine() -> dict[str, object]:
    info: dict[str, object] = {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "system": f"{platform.system()} {platform.release()}",
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_mb"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = round(os.getloadavg()[0], 2)
    return info


def table(results: list[Result]) -> str:
    rows = [("measurement", "figure", "target", "result")]
    rows += [(r.name, r.figure, r.goal, r.verdict) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]

    def line(row: tuple[str, str, str, str]) -> str:
        return (f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  "
                f"{row[3]}").rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(rows[0]), rule, *(line(row) for row in rows[1:])]
    notes = [f"  {r.name}: {r.error or r.note}" for r in results if r.error or r.note]
    if notes:
        out += ["", "Notes:", *notes]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmarks of the portal, with their targets.",
        epilog="Suites: " + "; ".join(f"{k}: {v}" for k, v in SUITES.items()))
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"any of {list(SUITES)}")
    parser.add_argument(
        "--registrations", type=int, metavar="N",
        default=int(os.environ.get("BENCH_REGISTRATIONS", DEFAULT_REGISTRATIONS)),
        help="registrations seeded for the API and wizard suites (default: "
             "$BENCH_REGISTRATIONS or 100,000); each N is seeded once and cached in "
             "bench/.cache/")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--output", type=Path,
                        help="write the results here (default: bench/results.json when every "
                             "suite runs)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's temp dir (data copy, server logs)")
    args = parser.parse_args(argv)
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    if args.registrations < 1:
        parser.error("--registrations must be 1 or more")
    chosen = args.suites or [name for name in SUITES if available(name)]
    output = args.output or (RESULTS if not args.suites else None)

    started = datetime.now(UTC)
    info = machine()
    ctx = Context(registrations=args.registrations, keep=args.keep)
    results: list[Result] = []
    began = time.monotonic()
    try:
        for name in chosen:
            log(f"suite {name}: {SUITES[name]}")
            try:
                if not available(name):
                    raise RuntimeError(f"{MODULES[name].replace('.', '/')}.py does not exist")
                suite = importlib.import_module(MODULES[name])
                rows = suite.run(ctx)
            except Exception as exc:  # one broken suite does not hide the others' figures
                traceback.print_exc(file=sys.stderr)
                rows = [Result(f"{name} suite", None, "", error=f"failed: {exc!r}")]
            for row in rows:
                row.suite = name
            results += rows
    finally:
        ctx.close()
    failed = [r for r in results if not r.ok]

    document = {
        "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_seconds": round(time.monotonic() - began),
        "machine": info,
        "registrations": args.registrations,
        "data": ctx.notes,
        "suites": chosen,
        "results": [r.as_dict() for r in results],
        "passed": not failed,
    }
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        cpu = f"{info['cores']} cores ({info['cpu']})"
        print(f"Benchmarks, {document['date']}: N = {args.registrations:,} registrations; "
              f"{cpu}; Python {info['python']}; SQLite {info['sqlite']}; "
              f"load average {info.get('load_average_at_start', '?')} at start")
        for key, value in ctx.notes.items():
            print(f"{key}: {value}")
        print()
        print(table(results))
        print()
        print(f"{len(results) - len(failed)} of {len(results)} rows met their targets or have "
              "none" + (f"; missed: {', '.join(r.name for r in failed)}" if failed else "."))
    if output is not None:
        output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        log(f"results written to {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
