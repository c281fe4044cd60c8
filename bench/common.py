"""What a measurement is: a name, a value, its unit and the target it must meet (if any)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    """One row of the table. ``target`` None: reported, not judged. ``value`` None: not
    measured (``note`` says why)."""

    name: str
    value: float | None
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""
    suite: str = ""
    error: str = ""  # the suite failed: the row says so, and the run fails

    @property
    def verdict(self) -> str:
        if self.error:
            return "error"
        if self.value is None:
            return "skipped"
        if self.target is None:
            return "info"
        met = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return "pass" if met else "miss"

    @property
    def ok(self) -> bool:
        return self.verdict not in ("miss", "error")

    @property
    def figure(self) -> str:
        return "—" if self.value is None else f"{fmt(self.value)} {self.unit}".rstrip()

    @property
    def goal(self) -> str:
        if self.target is None:
            return ""
        sign = "≥" if self.higher_is_better else "≤"
        return f"{sign} {fmt(self.target)} {self.unit}".rstrip()

    def line(self) -> str:
        return f"{self.name:<52} {self.figure:>16}  {self.goal:<14} {self.verdict}"

    def as_dict(self) -> dict[str, object]:
        return {
            "suite": self.suite,
            "name": self.name,
            "value": None if self.value is None else round(self.value, 3),
            "unit": self.unit,
            "target": self.target,
            "comparison": None if self.target is None else (
                ">=" if self.higher_is_better else "<="),
            "verdict": self.verdict,
            "note": self.error or self.note,
        }


def fmt(value: float) -> str:
    """Figures as people read them: 12,345 / 123 / 12.3 / 1.23 / 0.123."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def timed(fn: Callable[[], object], *, repeat: int) -> list[float]:
    """Wall-clock milliseconds of each of ``repeat`` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0–100), linear between the closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def p95(samples: list[float]) -> float:
    return percentile(samples, 95)


def median(samples: list[float]) -> float:
    return statistics.median(samples)
