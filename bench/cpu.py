"""Where a measured run's CPU went: the server, PostgreSQL, the load generator, and idle.

On a 2-core machine the server shares the cores with PostgreSQL and wrk, so a ratio that falls
short may be a machine that is full rather than a slow server. ``Meter`` reads the kernel's
counters (/proc, Linux) before and after a run and says how many cores each used on average:

* the servers: each process and its descendants (``--workers 2`` forks two);
* PostgreSQL: every process named ``postgres`` (the backends serving the run, and the rest);
* wrk: the children of this process that ended during the run (``getrusage``);
* idle: what the whole machine (``/proc/stat``) did not use.

Elsewhere (no /proc) it measures nothing and says so.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its closing one.
    return [text[: text.index(" (")], text[text.index(" (") + 2: text.rindex(")")],
            *text[text.rindex(")") + 2:].split()]


def _processes() -> dict[int, tuple[str, int, float]]:
    """pid → (name, parent pid, CPU seconds so far) for every process we may read."""
    found = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        # After pid and comm: state(2) ppid(3) ... utime(13) stime(14), numbered from pid = 0.
        name, parent = fields[1], int(fields[3])
        found[int(entry.name)] = (name, parent, (int(fields[13]) + int(fields[14])) / TICKS)
    return found


def _tree(processes: dict[int, tuple[str, int, float]], root: int) -> set[int]:
    members, grew = {root}, True
    while grew:
        grew = False
        for pid, (_name, parent, _cpu) in processes.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    return members


def _machine_busy_and_total() -> tuple[float, float]:
    """CPU seconds the machine was busy and in all, since boot, summed over the cores."""
    first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in first[:8]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values)
    return (total - idle) / TICKS, total / TICKS


@dataclass
class Usage:
    """Average cores used during a run."""

    seconds: float
    server: float
    postgres: float
    wrk: float
    other: float
    idle: float

    def describe(self) -> str:
        parts = [f"server {self.server:.2f}"]
        if self.postgres >= 0.005:
            parts.append(f"PostgreSQL {self.postgres:.2f}")
        parts += [f"wrk {self.wrk:.2f}", f"other {self.other:.2f}", f"idle {self.idle:.2f}"]
        return "cores used: " + ", ".join(parts)

    def as_dict(self) -> dict[str, float]:
        return {"server": round(self.server, 2), "postgres": round(self.postgres, 2),
                "wrk": round(self.wrk, 2), "other": round(self.other, 2),
                "idle": round(self.idle, 2)}


class Meter:
    """``with Meter(server_pid, …) as m: run()`` then ``m.usage`` (the servers together)."""

    def __init__(self, *server_pids: int) -> None:
        self.server_pids = server_pids
        self.usage: Usage | None = None

    def _snapshot(self) -> tuple[float, float, float, float, float, float]:
        processes = _processes()
        tree = set().union(*(_tree(processes, pid) for pid in self.server_pids))
        server = sum(processes[p][2] for p in tree if p in processes)
        postgres = sum(cpu for name, _parent, cpu in processes.values() if name == "postgres")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, total = _machine_busy_and_total()
        return (time.monotonic(), server, postgres, children.ru_utime + children.ru_stime,
                busy, total)

    def __enter__(self) -> Meter:
        self.before = self._snapshot() if PROC.joinpath("stat").exists() else None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.before is None:
            return
        after = self._snapshot()
        wall = after[0] - self.before[0]
        server, postgres, wrk, busy, total = (a - b for a, b in zip(after[1:], self.before[1:],
                                                                      strict=True))
        cores = total / wall  # the machine's cores, as the kernel counted them
        self.usage = Usage(
            seconds=wall, server=server / wall, postgres=postgres / wall, wrk=wrk / wall,
            other=max(0.0, (busy - server - postgres - wrk) / wall),
            idle=max(0.0, cores - busy / wall))
