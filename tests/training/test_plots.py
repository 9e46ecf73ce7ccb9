"""Plots lay themselves out without a measuring pass, and every label still fits on the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from training import plots


def fits(figure: Figure) -> bool:
    """Whether everything drawn (tick labels, axis labels, title) lies on the image."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    drawn = figure.get_tightbbox(renderer)  # inches
    width, height = figure.get_size_inches()
    return bool(drawn.x0 >= 0 and drawn.y0 >= 0 and drawn.x1 <= width and drawn.y1 <= height)


@pytest.mark.parametrize("scale", [1.0, 4e5, -3e5, 1e-4])
def test_numeric_labels_fit_at_any_scale(tmp_path: Path, scale: float) -> None:
    rng = np.random.default_rng(0)
    figure = Figure(figsize=(5, 5))
    ax = figure.add_subplot()
    values = rng.normal(size=300) * scale
    ax.scatter(values, values * 1.1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs actual (test split)")
    path = plots._save(figure, tmp_path / "plot.png")
    assert fits(figure)
    assert Image.open(path).size == (550, 550)  # 5 inches at plots.DPI


def test_long_category_labels_are_cut_and_fit(tmp_path: Path) -> None:
    names = ["x", "description_length_in_characters_of_the_product_page", "brand"]
    path = plots.importance(names, [0.3, 0.2, 0.1], [0.01, 0.02, 0.03], "r2", tmp_path / "i.png")
    assert path.exists()
    figure = Figure(figsize=(6, 3))
    ax = figure.add_subplot()
    ax.barh([plots._label(n) for n in names], [0.3, 0.2, 0.1])
    plots._save(figure, tmp_path / "again.png")
    assert fits(figure)
    assert max(len(t.get_text()) for t in ax.get_yticklabels()) == plots.LABEL_CHARS


def test_a_drawing_is_written_by_the_plotting_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plots.start_plotter()
    plotter = plots._plotter
    assert plotter is not None and plotter.process.poll() is None

    def not_here(*_: object) -> None:
        raise AssertionError("drawn in the test's process, not the plotting process")

    monkeypatch.setattr(plots, "_save", not_here)  # only this process's copy
    drawing = plots.Drawing()
    y = np.linspace(0.0, 1.0, 500)
    residuals = drawing.draw(plots.residuals, y, y * 0.9, tmp_path / "residuals.png")
    curve = drawing.draw(
        plots.loss_history, [[1, 0.5, 0.6], [2, 0.4, 0.5]], "epoch", tmp_path / "c.png"
    )
    drawing.wait()
    assert Image.open(residuals).size == (550, 550) and Image.open(curve).size == (660, 440)
    drawing.draw(plots.residuals, y, "not predictions", tmp_path / "bad.png")
    with pytest.raises(IndexError):  # the plot's own error, raised here
        drawing.wait()
    assert plots._plotter is plotter and plotter.process.poll() is None  # still serving
    with pytest.raises(ValueError, match=r"not one of training\.plots\.PLOTS"):
        drawing.draw(texts_of, tmp_path / "x.png")


def texts_of(path: Path) -> Path:
    """Not a plot: the plotting process must not be asked to call it."""
    return path


def test_plots_are_drawn_here_when_the_plotting_process_died(tmp_path: Path) -> None:
    plots.start_plotter()
    plotter = plots._plotter
    assert plotter is not None
    drawing = plots.Drawing()
    y = np.linspace(0.0, 1.0, 50)
    plotter.process.kill()
    plotter.process.wait()
    first = drawing.draw(plots.residuals, y, y, tmp_path / "first.png")
    drawing.wait()
    second = drawing.draw(plots.residuals, y, y, tmp_path / "second.png")
    drawing.wait()
    assert first.exists() and second.exists()
    assert plots._plotter is None  # forgotten; the next run starts a new one
    plots.start_plotter()
    assert plots._plotter is not None and plots._plotter.process.poll() is None
