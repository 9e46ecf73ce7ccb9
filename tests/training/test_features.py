"""Column kinds, what is dropped and why, and the feature pipelines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.errors import InvalidInputError, NotFoundError
from training.features import ImageLoader, Kind, preprocessor, profile_columns


def products(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "sku": [f"SKU-{i:05d}" for i in range(n)],
            "price": rng.uniform(1, 100, n),
            "brand": rng.choice(["acme", "globex", None], n),
            "in_stock": rng.choice([True, False], n),
            "listed": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "description": [
                f"A sturdy item number {i} made of metal and wood for the home" for i in range(n)
            ],
            "url": [f"https://shop.example/p/{i}" for i in range(n)],
            "photo": [f"img/{i}.png" for i in range(n)],
            "empty": [None] * n,
            "constant": [1] * n,
            "_run_id": ["r1"] * n,
            "category": rng.choice(["tools", "garden"], n),
        }
    )


def test_profile_sorts_kinds_and_says_why_columns_are_dropped() -> None:
    profile = profile_columns(products(), "category", key=("sku",))
    kinds = {c.name: c.kind for c in profile.columns}
    assert kinds == {
        "price": Kind.NUMBER,
        "brand": Kind.CATEGORY,
        "in_stock": Kind.BOOLEAN,
        "listed": Kind.DATE,
        "description": Kind.TEXT,
        "photo": Kind.IMAGE,
    }
    reasons = {d.name: d.reason for d in profile.dropped}
    assert reasons == {
        "sku": "the record key",
        "url": "a URL column",
        "empty": "empty (all null)",
        "constant": "constant",
        "_run_id": "a provenance column",
    }


def test_identifiers_are_dropped_without_a_key() -> None:
    profile = profile_columns(products()[["sku", "price", "category"]], "category")
    assert [d.reason for d in profile.dropped] == [
        "an identifier (almost every value is different)"
    ]


def test_named_features_and_their_errors() -> None:
    frame = products()
    profile = profile_columns(frame, "category", features=["price", "brand"])
    assert profile.names == ["price", "brand"]
    with pytest.raises(NotFoundError, match="Feature column 'colour' is not in the dataset"):
        profile_columns(frame, "category", features=["colour"])
    with pytest.raises(InvalidInputError, match="Feature column 'empty' is empty \\(all null\\)"):
        profile_columns(frame, "category", features=["price", "empty"])


def test_all_null_features_are_refused() -> None:
    frame = pd.DataFrame({"a": [None] * 30, "b": [np.nan] * 30, "y": [1, 2] * 15})
    with pytest.raises(
        InvalidInputError, match=r"No usable feature columns to predict 'y' \(a: empty"
    ):
        profile_columns(frame, "y")


def test_preprocessor_turns_every_kind_into_numbers(tmp_path: Path) -> None:
    frame = products()
    for i in range(len(frame)):
        (tmp_path / "img").mkdir(exist_ok=True)
        Image.new("RGB", (6, 4), (i * 4, 0, 0)).save(tmp_path / "img" / f"{i}.png")
    profile = profile_columns(frame, "category", key=("sku",))
    transform = preprocessor(
        profile, dense=True, text_features=50, image_root=str(tmp_path), image_size=(4, 6)
    )
    matrix = transform.fit_transform(frame.drop(columns=["category"]))
    assert matrix.shape[0] == len(frame) and np.isfinite(matrix).all()
    names = list(transform.get_feature_names_out())
    assert "numbers__price" in names and any(n.startswith("categories__") for n in names)
    assert sum(n.startswith("images__") for n in names) == 3 * 4 * 6
    unseen = frame.head(3).assign(brand="initech", listed=None)
    assert transform.transform(unseen.drop(columns=["category"])).shape == (3, matrix.shape[1])


def test_image_loader_reads_resizes_and_tolerates_missing_files(tmp_path: Path) -> None:
    Image.new("L", (16, 16), 255).save(tmp_path / "white.png")
    loader = ImageLoader(root=str(tmp_path), size=(8, 8), mode="L")
    pixels = loader.fit(pd.DataFrame({"p": ["white.png", "gone.png", None]})).transform(
        pd.DataFrame({"p": ["white.png", "gone.png", None]})
    )
    assert loader.missing_ == 2
    assert pixels.shape == (3, 64)
    assert np.allclose(pixels[0], 1.0) and np.allclose(pixels[1:], 0.0)
