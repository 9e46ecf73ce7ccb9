"""``python -m bench [NAME ...]``: run every ``bench/bench_*.py`` (or the named ones) and print figures."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import bench
from bench.common import Figure


def main(names: list[str]) -> int:
    modules = sorted(
        m.name
        for m in pkgutil.iter_modules([str(Path(bench.__file__).parent)])
        if m.name.startswith("bench_")
    )
    chosen = [m for m in modules if not names or m.removeprefix("bench_") in names]
    missed = 0
    for module_name in chosen:
        module = importlib.import_module(f"bench.{module_name}")
        print(f"== {module_name.removeprefix('bench_')}", flush=True)
        figures: list[Figure] = module.run()
        for figure in figures:
            print("  " + figure.line(), flush=True)
            missed += figure.met is False
    print(f"{missed} figure(s) missed their goal." if missed else "All figures within their goals.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
