"""What a measurement is: a name, a value, its unit and the target it must meet."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Result:
    name: str
    value: float
    unit: str
    target: float
    higher_is_better: bool = False

    @property
    def ok(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        verdict = "ok" if self.ok else "MISSED"
        target = f"(target {sign} {self.target:g})"
        return f"{self.name:<44} {self.value:>10.2f} {self.unit:<8} {target} {verdict}"

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "ok": self.ok}


def timed(fn: Callable[[], object], *, repeat: int) -> list[float]:
    """Wall-clock milliseconds of each of ``repeat`` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 20 else max(samples)
