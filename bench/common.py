"""What every benchmark reports, and the timing helper they share.

A benchmark module is ``bench/bench_<area>.py`` with ``run() -> list[Figure]``. Each
figure is a ratio of Harvest against a bare baseline measured in the same run (or a
plain figure for the README when an issue asks for one), with its goal.
"""

from __future__ import annotations

import gc
import statistics
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


def paired_ratio(
    name: str,
    harvest: Callable[[], object],
    baseline: Callable[[], object],
    goal: float,
    pairs: int = 5,
) -> Figure:
    """Harvest-time ÷ baseline-time as the median of ``pairs`` ratios of back-to-back runs.

    On a shared machine whose speed drifts by tens of percent over minutes, the best of
    each side can set a fast moment of one against a slow moment of the other; two runs
    made one after the other see the same moment. Pairs alternate which side goes first.
    The best-of-each ratio is given in the detail too.
    """
    timings = []
    for pair in range(pairs):
        first, second = (harvest, baseline) if pair % 2 == 0 else (baseline, harvest)
        a, b = best_of_each(first, second, repeat=1)
        timings.append((a, b) if pair % 2 == 0 else (b, a))
    ratios = sorted(h / b for h, b in timings)
    fastest = min(h for h, _ in timings), min(b for _, b in timings)
    return Figure(
        name=name,
        value=statistics.median(ratios),
        goal=goal,
        op="<=",
        detail=f"{pairs} pairs {ratios[0]:.3f} to {ratios[-1]:.3f}; fastest harvest "
        f"{fastest[0]:.3f}s, baseline {fastest[1]:.3f}s ({fastest[0] / fastest[1]:.3f})",
    )
