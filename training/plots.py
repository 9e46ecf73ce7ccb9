"""PNG plots saved beside a model: confusion matrix, calibration, importance, learning curve, residuals.

Drawn with Matplotlib's object API on the Agg canvas (no pyplot, no display, safe in
threads and background processes). Each function takes plain arrays and a path and
returns the path it wrote.

A training run draws its plots through a ``Drawing``: each plot goes to the plotting
process (``training.plotter``, a ``core.helpers`` process started by
``start_plotter`` and kept for the process's later runs) while the run goes on scoring,
explaining and saving the model, and ``wait()`` returns once every file is written.
Drawing is single-threaded Python, and on a thread it would hold the GIL that a boosted
model's predict needs once per tree. Without the process (not started, or died) a plot
is drawn in the caller's process; a plot's own error is raised by ``wait()`` either way.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from core import helpers

DPI = 110
SCATTER_POINTS = 5_000


class PlotterDied(Exception):
    """The plotting process is gone; its plots are drawn here."""


class _Plotter:
    """The plotting process (``python -m training.plotter``): plots by name, answered in order."""

    def __init__(self) -> None:
        self.process, self._socket = helpers.start("training.plotter")
        self._answers_in = self._socket.makefile("rb")
        self._lock = threading.Lock()  # runs on several threads share it
        self._sent = 0
        self._read = 0
        self._answers: dict[int, object] = {}

    def submit(self, plot: Callable[..., Path], args: tuple[Any, ...]) -> int:
        """Send one plot; its ticket for ``result``."""
        with self._lock:
            try:
                self._socket.sendall(helpers.frame((plot.__name__, args)))
            except OSError:
                raise PlotterDied from None
            self._sent += 1
            return self._sent - 1

    def result(self, ticket: int) -> object:
        """The path written for ``ticket``, or the exception its plot raised."""
        with self._lock:
            while ticket not in self._answers:
                answer = helpers.read_frame(self._answers_in)  # type: ignore[arg-type]
                if answer is None:
                    raise PlotterDied
                self._answers[self._read] = answer
                self._read += 1
            return self._answers.pop(ticket)

    def close(self) -> None:
        helpers.end(self.process, self._socket)
        self._answers_in.close()
        self._socket.close()


_plotter: _Plotter | None = None


def start_plotter() -> None:
    """Start this process's plotting process unless it runs (its interpreter starts now)."""
    global _plotter
    if _plotter is None:
        _plotter = _Plotter()
        atexit.register(stop_plotter)


def stop_plotter() -> None:
    global _plotter
    if _plotter is not None:
        _plotter.close()
    _plotter = None


class Drawing:
    """The plots of one run, drawn on the plotting process; ``wait()`` until they are written."""

    def __init__(self) -> None:
        self._jobs: list[tuple[int | None, Callable[..., Path], tuple[Any, ...]]] = []

    def draw(self, plot: Callable[..., Path], *args: Any) -> Path:
        """Start ``plot(*args)`` (one of ``PLOTS``); the path it writes (its last argument)."""
        if PLOTS.get(plot.__name__) is not plot:
            raise ValueError(f"{plot.__name__!r} is not one of training.plots.PLOTS")
        ticket = None
        if _plotter is not None:
            try:
                ticket = _plotter.submit(plot, args)
            except PlotterDied:
                stop_plotter()
        if ticket is None:
            plot(*args)
        self._jobs.append((ticket, plot, args))
        path: Path = args[-1]
        return path

    def wait(self) -> None:
        """Every plot written; raises a plot's own error."""
        jobs, self._jobs = self._jobs, []
        for ticket, plot, args in jobs:
            if ticket is None:
                continue
            plotter = _plotter
            try:
                if plotter is None:
                    raise PlotterDied
                answer = plotter.result(ticket)
            except PlotterDied:  # drawn here instead
                stop_plotter()
                plot(*args)
                continue
            if isinstance(answer, BaseException):
                raise answer


LABEL_CHARS = 30  # longer category labels are cut, so the margin made for them stays sane
_CHAR_INCHES = 0.085  # the width of a 10 pt character, with a little room


def _label(value: object) -> str:
    text = str(value)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _fit_margins(figure: Figure) -> None:
    """Margins in inches from the longest y tick label, without drawing anything.

    ``tight_layout`` measures every text by drawing the whole figure once before it is
    saved, which doubled the cost of a plot. Here the y tick labels are formatted as they
    will be drawn and the left margin made wide enough for the longest; the other sides
    hold one line of text each.
    """
    ax = figure.axes[0]
    ticks = ax.yaxis.get_major_formatter().format_ticks(list(ax.get_yticks()))
    left = 0.45 + _CHAR_INCHES * max(map(len, ticks), default=1)
    width, height = figure.get_size_inches()
    figure.subplots_adjust(
        left=left / width, right=1 - 0.25 / width, bottom=0.55 / height, top=1 - 0.4 / height
    )


def _save(figure: Figure, path: Path, measured: bool = False) -> Path:
    """Write ``figure`` as PNG; ``measured`` lays it out by its drawn texts (slower)."""
    FigureCanvasAgg(figure)
    if measured:
        figure.tight_layout()
    else:
        _fit_margins(figure)
    path.parent.mkdir(parents=True, exist_ok=True)
    # zlib level 1: a third faster to write than the default 6, for files a little larger
    figure.savefig(path, dpi=DPI, format="png", pil_kwargs={"compress_level": 1})
    return path


def confusion_matrix(
    y_true: NDArray[Any], y_pred: NDArray[Any], classes: Sequence[Any], path: Path
) -> Path:
    """Counts of true (rows) against predicted (columns) classes."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = min(4 + 0.4 * len(classes), 14)
    figure = Figure(figsize=(size, size))
    ax = figure.add_subplot()
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=list(classes),
        ax=ax,
        colorbar=False,
        xticks_rotation=45,
        include_values=len(classes) <= 20,
    )
    ax.set_title("Confusion matrix (test split)")
    return _save(figure, path, measured=True)  # rotated labels of any length


def calibration(
    y_true: NDArray[Any],
    proba: NDArray[np.float64],
    classes: Sequence[Any],
    path: Path,
    bins: int = 10,
) -> Path:
    """Reliability diagram: predicted confidence against observed frequency.

    Two classes: probability of the positive class. More: the top predicted class's
    probability against how often that prediction was right.
    """
    classes = list(classes)
    if len(classes) == 2:
        confidence = proba[:, 1]
        hit = (np.asarray(y_true) == classes[1]).astype(float)
        label = f"P({classes[1]})"
    else:
        confidence = proba.max(axis=1)
        hit = (
            np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
            == np.asarray(y_true, dtype=object)
        ).astype(float)
        label = "top-class probability"
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    mean_conf, mean_hit, counts = [], [], []
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            mean_conf.append(confidence[chosen].mean())
            mean_hit.append(hit[chosen].mean())
            counts.append(int(chosen.sum()))
    figure = Figure(figsize=(5, 5))
    ax = figure.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(mean_conf, mean_hit, marker="o", label="model")
    ax.set_xlabel(f"mean predicted {label}")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Calibration (test split)")
    ax.legend(loc="upper left")
    return _save(figure, path)


def importance(
    names: Sequence[str], means: Sequence[float], stds: Sequence[float], metric: str, path: Path
) -> Path:
    """Permutation importance: how much the metric drops when a column is shuffled."""
    order = np.argsort(np.asarray(means))[-20:]
    labels = [_label(names[i]) for i in order]
    figure = Figure(figsize=(6, 1.5 + 0.3 * len(order)))
    ax = figure.add_subplot()
    ax.barh(
        labels,
        [means[i] for i in order],
        xerr=[stds[i] for i in order],
        color="#4c72b0",
    )
    ax.set_xlabel(f"drop in {metric} when shuffled")
    ax.set_title("Permutation importance (test split)")
    return _save(figure, path)


def learning_curve(
    sizes: Sequence[int],
    train: Sequence[float],
    validation: Sequence[float],
    metric: str,
    path: Path,
) -> Path:
    """Score on the training rows and on the validation split as the training set grows."""
    figure = Figure(figsize=(6, 4))
    ax = figure.add_subplot()
    ax.plot(sizes, train, marker="o", label="training rows")
    ax.plot(sizes, validation, marker="o", label="validation split")
    ax.set_xlabel("training rows")
    ax.set_ylabel(metric)
    ax.set_title("Learning curve")
    ax.legend()
    return _save(figure, path)


def loss_history(history: Sequence[Sequence[float]], unit: str, path: Path) -> Path:
    """Training and validation loss per epoch (or step) of a PyTorch model."""
    rows = np.asarray(history, dtype=float).reshape(-1, 3)
    figure = Figure(figsize=(6, 4))
    ax = figure.add_subplot()
    ax.plot(rows[:, 0], rows[:, 1], label="training loss")
    ax.plot(rows[:, 0], rows[:, 2], label="validation loss")
    ax.set_xlabel(unit)
    ax.set_ylabel("loss")
    ax.set_title("Learning curve")
    ax.legend()
    return _save(figure, path)


def reward_curve(
    curve: Sequence[tuple[int, float]], label: str, references: Mapping[str, float], path: Path
) -> Path:
    """A policy's training returns over timesteps, with reference policies' returns as lines."""
    figure = Figure(figsize=(6, 4))
    ax = figure.add_subplot()
    if curve:
        rows = np.asarray(curve, dtype=float)
        ax.plot(rows[:, 0], rows[:, 1], label=label)
    for (name, value), style in zip(references.items(), ("--", ":", "-."), strict=False):
        ax.axhline(value, linestyle=style, color="grey", label=name)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("episode return")
    ax.set_title("Reward curve")
    ax.legend(fontsize="small")
    return _save(figure, path)


def scores(
    values: Mapping[str, float],
    intervals: Mapping[str, tuple[float, float]],
    baseline: Mapping[str, float],
    protocol: str,
    path: Path,
) -> Path:
    """Each test metric with its 95% interval (a bar) and the baseline's value (a cross)."""
    names = [n for n in values if n in intervals and np.isfinite(values[n])]
    figure = Figure(figsize=(6, 0.9 + 0.5 * max(len(names), 1)))
    ax = figure.add_subplot()
    rows = np.arange(len(names))
    points = np.asarray([values[n] for n in names], dtype=float)
    lows = np.asarray([intervals[n][0] for n in names], dtype=float)
    highs = np.asarray([intervals[n][1] for n in names], dtype=float)
    ax.errorbar(
        points, rows, xerr=[points - lows, highs - points], fmt="o", capsize=4, label="model"
    )
    known = [(i, baseline[n]) for i, n in enumerate(names) if np.isfinite(baseline.get(n, np.nan))]
    if known:
        ax.plot([v for _, v in known], [i for i, _ in known], "x", color="grey", label="baseline")
    ax.set_yticks(rows, [_label(n) for n in names])
    ax.invert_yaxis()
    ax.set_title(f"Scores with 95% intervals ({protocol.replace('_', ' ')})")
    ax.legend(fontsize="small")
    return _save(figure, path)


def residuals(y_true: NDArray[Any], y_pred: NDArray[Any], path: Path) -> Path:
    """Predicted against actual values, with the line of perfect prediction.

    At most ``SCATTER_POINTS`` points are drawn (a seeded sample): more only overplot.
    """
    figure = Figure(figsize=(5, 5))
    ax = figure.add_subplot()
    shown = np.arange(len(y_true))
    if len(shown) > SCATTER_POINTS:
        shown = np.random.default_rng(0).choice(len(shown), SCATTER_POINTS, replace=False)
    ax.scatter(np.asarray(y_true)[shown], np.asarray(y_pred)[shown], s=8, alpha=0.6)
    low, high = float(np.min(y_true)), float(np.max(y_true))
    ax.plot([low, high], [low, high], linestyle="--", color="grey")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual (test split)")
    return _save(figure, path)


PLOTS: dict[str, Callable[..., Path]] = {
    plot.__name__: plot
    for plot in (
        confusion_matrix,
        calibration,
        importance,
        learning_curve,
        loss_history,
        residuals,
        reward_curve,
        scores,
    )
}
"""The plots by name: what the plotting process is allowed to draw."""
