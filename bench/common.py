"""What every benchmark reports, and the timing helper they share.

A benchmark module is ``bench/bench_<area>.py`` with ``run() -> list[Figure]``. Each
figure is a ratio of Harvest against a bare baseline measured in the same run (or a
plain figure for the README when an issue asks for one), with its goal.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure: ``value`` compared with ``goal`` by ``op`` ('<=', '>=' or '')."""

    name: str
    value: float
    unit: str = "x"
    goal: float | None = None
    op: str = ""
    detail: str = ""

    @property
    def met(self) -> bool | None:
        if self.goal is None or not self.op:
            return None
        return self.value <= self.goal if self.op == "<=" else self.value >= self.goal

    def line(self) -> str:
        goal = f"  (goal {self.op} {self.goal:g})" if self.goal is not None else ""
        verdict = {True: "  ok", False: "  MISSED", None: ""}[self.met]
        detail = f"  [{self.detail}]" if self.detail else ""
        return f"{self.name:<64} {self.value:8.3f} {self.unit}{goal}{verdict}{detail}"


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` wall-clock timings of ``fn()`` in seconds."""
    timings = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
    return min(timings)


def best_of_each(*fns: Callable[[], object], repeat: int = 3) -> tuple[float, ...]:
    """The fastest timing of each of ``fns``, run in turn ``repeat`` times.

    Interleaving the sides means a burst of load from a neighbour slows both, not one.
    """
    timings: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, timings, strict=True):
            times.append(best_of(fn, repeat=1))
    return tuple(min(times) for times in timings)


def ratio(name: str, harvest_s: float, baseline_s: float, goal: float, op: str = "<=") -> Figure:
    """A Harvest-time ÷ baseline-time figure (use ``op='>='`` for throughput ratios)."""
    return Figure(
        name=name,
        value=harvest_s / baseline_s,
        goal=goal,
        op=op,
        detail=f"harvest {harvest_s:.3f}s, baseline {baseline_s:.3f}s",
    )
