"""``python -m training.plotter FD``: the plotting process of ``training.plots.Drawing``.

Each request is a plot function's name and its arguments; the answer is the path it
wrote (or the error it raised). Ctrl-C is left to the training process, whose exit ends
this one.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, cast

from core import helpers
from training import plots


def draw(request: object) -> Path:
    name, args = cast(tuple[str, tuple[Any, ...]], request)
    if name not in plots.PLOTS:
        raise ValueError(f"{name!r} is not a plot")
    return plots.PLOTS[name](*args)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    helpers.serve(draw)
