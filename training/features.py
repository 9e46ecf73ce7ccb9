"""Which columns a model may use, what kind each is, and the scikit-learn pipelines that turn them into numbers.

:func:`profile_columns` sorts a frame's columns into kinds (number, boolean, category,
text, date, image path) and drops what cannot be a feature (provenance ``_*`` columns,
the record key, identifiers, empty and constant columns), saying why. :func:`preprocessor`
builds the ``ColumnTransformer`` for a profile; it is the first step of every model's
pipeline, so the whole transformation is saved with the model.

The transformers here (:class:`Stringify`, :class:`TextJoiner`, :class:`DateExpander`,
:class:`ImageLoader`) are plain scikit-learn transformers, persisted by skops.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.errors import InvalidInputError, NotFoundError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
MAX_CATEGORIES = 100  # more distinct short strings than this (and >50% unique) is an identifier
IDENTIFIER_SHARE = 0.9  # short strings this often distinct (and >20 values) are identifiers
TEXT_MIN_MEAN_LENGTH = 40  # mean characters for a string column to count as free text
MISSING = "<missing>"


class Kind(StrEnum):
    """What a column holds, which decides how it is turned into numbers."""

    NUMBER = "number"
    BOOLEAN = "boolean"
    CATEGORY = "category"
    TEXT = "text"
    DATE = "date"
    IMAGE = "image"


@dataclass(frozen=True)
class Column:
    """A feature column and its kind."""

    name: str
    kind: Kind


@dataclass(frozen=True)
class Dropped:
    """A column left out of the features, and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class FeatureProfile:
    """The feature columns of a dataset and the columns left out."""

    columns: tuple[Column, ...]
    dropped: tuple[Dropped, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def of(self, *kinds: Kind) -> list[str]:
        """Names of the columns of the given kinds, in dataset order."""
        return [c.name for c in self.columns if c.kind in kinds]

    def kinds(self) -> set[Kind]:
        return {c.kind for c in self.columns}

    def to_json(self) -> dict[str, object]:
        return {
            "columns": [{"name": c.name, "kind": c.kind.value} for c in self.columns],
            "dropped": [{"name": d.name, "reason": d.reason} for d in self.dropped],
        }


def _is_date_strings(values: pd.Series) -> bool:
    sample = values.astype(str).head(200)
    if not sample.str.contains(r"^\d{4}-\d{2}-\d{2}", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601", utc=True)
    return bool(parsed.notna().all())


def _text_counts(present: pd.Series) -> pd.Series:
    """How often each distinct text occurs (non-string values as their ``str``).

    Kind checks run on distinct values weighted by these counts, so a category column of
    a million rows costs as much as its few levels.
    """
    try:
        counts = present.value_counts(sort=False)
    except TypeError:  # unhashable cells (lists, dicts): count their text
        counts = present.map(str).value_counts(sort=False)
    texts = [v if isinstance(v, str) else str(v) for v in counts.index]
    return pd.Series(counts.to_numpy(), index=texts).groupby(level=0, sort=False).sum()


def column_kind(values: pd.Series) -> Kind | str:
    """The kind of a column, or the reason it cannot be a feature."""
    present = values.dropna()
    if present.empty:
        return "empty (all null)"
    if pd.api.types.is_bool_dtype(values):
        return Kind.BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(values):
        return Kind.DATE
    if pd.api.types.is_numeric_dtype(values):
        numbers = present.to_numpy()
        return "constant" if bool((numbers == numbers[0]).all()) else Kind.NUMBER
    counts = _text_counts(present)
    texts = pd.Series(list(counts.index), dtype=object)
    weights = counts.to_numpy()
    lengths = texts.str.len().to_numpy()

    def share(mask: pd.Series) -> float:
        return float(weights[mask.to_numpy()].sum() / weights.sum())

    if not lengths.any():
        return "empty (all blank)"
    lowered = texts.str.lower()
    if share(lowered.str.endswith(IMAGE_SUFFIXES)) >= 0.9:
        return Kind.IMAGE
    if share(lowered.str.match(r"^https?://")) >= 0.9:
        return "a URL column"
    if _is_date_strings(texts):
        return Kind.DATE
    distinct = len(counts)
    if distinct <= 1:
        return "constant"
    if (lengths * weights).sum() / weights.sum() >= TEXT_MIN_MEAN_LENGTH:
        return Kind.TEXT
    unique_share = distinct / weights.sum()
    few = distinct <= MAX_CATEGORIES or unique_share <= 0.5
    if few and (unique_share <= IDENTIFIER_SHARE or distinct <= 20):
        return Kind.CATEGORY
    return "an identifier (almost every value is different)"


def profile_columns(
    frame: pd.DataFrame,
    target: str,
    *,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    key: Sequence[str] = (),
) -> FeatureProfile:
    """Sort the columns of ``frame`` into feature kinds.

    With ``features`` given, exactly those columns are used and one that cannot be a feature
    is an error; otherwise every usable column other than the target, the key, the excluded
    and the provenance (``_*``) columns is used.
    """
    if features is not None:
        missing = [name for name in features if name not in frame.columns]
        if missing:
            raise NotFoundError(
                f"Feature column {missing[0]!r} is not in the dataset; its columns are "
                f"{', '.join(map(str, frame.columns))}."
            )
    columns: list[Column] = []
    dropped: list[Dropped] = []
    for name in frame.columns:
        if name == target:
            continue
        if features is not None and name not in features:
            continue
        if features is None:
            reason = (
                "excluded by the spec"
                if name in exclude
                else "the record key"
                if name in key
                else "a provenance column"
                if str(name).startswith("_")
                else None
            )
            if reason:
                dropped.append(Dropped(str(name), reason))
                continue
        kind = column_kind(frame[name])
        if isinstance(kind, Kind):
            columns.append(Column(str(name), kind))
        elif features is not None and kind.startswith("empty"):
            raise InvalidInputError(
                f"Feature column {name!r} is {kind}; drop it from the features or fill it in."
            )
        else:
            dropped.append(Dropped(str(name), kind))
    if not columns:
        why = "; ".join(f"{d.name}: {d.reason}" for d in dropped) or "no columns besides the target"
        raise InvalidInputError(
            f"No usable feature columns to predict {target!r} ({why}); "
            "name the features with --features or clean the dataset first."
        )
    return FeatureProfile(tuple(columns), tuple(dropped))


class Stringify(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Categories as strings, with missing values as one explicit category."""

    def fit(self, X: pd.DataFrame, y: object = None) -> Stringify:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.object_]:
        frame = pd.DataFrame(X)
        return frame.astype(object).where(frame.notna(), MISSING).astype(str).to_numpy(dtype=object)


class TextJoiner(TransformerMixin, BaseEstimator):
    """One string per row (a 1-D array): the text columns joined with a space, missing as ''.

    ``columns`` picks the columns from a frame (all of them when None).
    """

    def __init__(self, columns: tuple[str, ...] | None = None) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: object = None) -> TextJoiner:
        self.n_features_in_ = 1 if np.ndim(X) == 1 else np.shape(X)[1]
        return self

    def transform(self, X: pd.DataFrame) -> NDArray[np.object_]:
        frame = pd.DataFrame(X)
        if self.columns is not None:
            frame = frame.loc[:, list(self.columns)]
        text = frame.astype(object).where(frame.notna(), "").astype(str)
        joined = text.iloc[:, 0] if text.shape[1] == 1 else text.agg(" ".join, axis=1)
        return joined.to_numpy(dtype=object)

    def get_feature_names_out(self, input_features: Any = None) -> NDArray[np.object_]:
        return np.asarray(["text"], dtype=object)


class DateExpander(TransformerMixin, BaseEstimator):
    """Dates as numbers: year, month, day, weekday, day of year, hour and days since 1970."""

    parts = ("year", "month", "day", "weekday", "dayofyear", "hour")

    def fit(self, X: pd.DataFrame, y: object = None) -> DateExpander:
        self.n_features_in_ = np.shape(X)[1]
        self.columns_ = [str(c) for c in pd.DataFrame(X).columns]
        return self

    def get_feature_names_out(self, input_features: Any = None) -> NDArray[np.object_]:
        names = [f"{c}_{p}" for c in self.columns_ for p in (*self.parts, "days")]
        return np.asarray(names, dtype=object)

    def transform(self, X: pd.DataFrame) -> NDArray[np.float64]:
        frame = pd.DataFrame(X)
        blocks = []
        for name in frame.columns:
            stamp = pd.to_datetime(frame[name], errors="coerce", format="ISO8601", utc=True)
            parts = [getattr(stamp.dt, part).astype("float64") for part in self.parts]
            epoch = (stamp - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds() / 86400.0
            blocks.append(np.column_stack([*parts, epoch.astype("float64")]))
        return np.hstack(blocks).astype(np.float64)


class ImageLoader(TransformerMixin, BaseEstimator):
    """Image paths (relative to ``root``) to pixel rows in [0, 1], channels first.

    ``size`` is the (height, width) every image is resized to and ``mode`` is Pillow's
    ``"L"`` (grey) or ``"RGB"``; a missing or unreadable file becomes a black image and is
    counted in ``missing_`` while fitting.
    """

    def __init__(self, root: str = "", size: tuple[int, int] = (32, 32), mode: str = "RGB") -> None:
        self.root = root
        self.size = size
        self.mode = mode

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1 if self.mode == "L" else 3, self.size[0], self.size[1])

    def fit(self, X: pd.DataFrame, y: object = None) -> ImageLoader:
        self.n_features_in_ = 1
        self.missing_ = int(sum(self._load(path) is None for path in self._paths(X)))
        return self

    def get_feature_names_out(self, input_features: Any = None) -> NDArray[np.object_]:
        c, h, w = self.image_shape
        return np.asarray([f"pixel_{i}" for i in range(c * h * w)], dtype=object)

    def _paths(self, X: Any) -> list[str]:
        values = pd.DataFrame(X).iloc[:, 0]
        return ["" if pd.isna(v) else str(v) for v in values]

    def _load(self, path: str) -> NDArray[np.float32] | None:
        if not path:
            return None
        file = Path(path) if Path(path).is_absolute() else Path(self.root) / path
        try:
            stamp = file.stat().st_mtime_ns
        except OSError:
            return None
        return _decoded(str(file), stamp, tuple(self.size), self.mode)

    def transform(self, X: pd.DataFrame) -> NDArray[np.float32]:
        paths = self._paths(X)
        out = np.zeros((len(paths), int(np.prod(self.image_shape))), dtype=np.float32)
        for row, path in enumerate(paths):
            pixels = self._load(path)
            if pixels is not None:
                out[row] = pixels.reshape(-1)
        return out


@functools.lru_cache(maxsize=4096)  # about 50 MB of 32 x 32 RGB images
def _decoded(
    file: str, mtime_ns: int, size: tuple[int, ...], mode: str
) -> NDArray[np.float32] | None:
    """The pixels of ``file``, channels first, decoded once per process.

    A search fits the image features once per fold and family; decoding each file again
    every time was most of an image model's search. ``mtime_ns`` keys out a changed file.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as image:
            pixels = image.convert(mode).resize((size[1], size[0]))
            array = np.asarray(pixels, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    array = array[None, :, :] if array.ndim == 2 else array.transpose(2, 0, 1)
    array.setflags(write=False)
    return array


def preprocessor(
    profile: FeatureProfile,
    *,
    dense: bool = False,
    text_features: int = 20000,
    image_root: str = "",
    image_size: tuple[int, int] = (32, 32),
    image_mode: str = "RGB",
    scale: bool = True,
) -> ColumnTransformer:
    """The ``ColumnTransformer`` that turns a profile's columns into one numeric matrix.

    Numbers are median-imputed and scaled, booleans imputed, categories one-hot encoded
    (rare ones pooled), text TF-IDF vectorised, dates expanded into parts, images loaded
    as pixels. ``dense`` forces a dense result (for estimators that need one).
    """
    parts: list[tuple[str, object, list[str] | str]] = []
    numeric = profile.of(Kind.NUMBER, Kind.BOOLEAN)
    if numeric:
        steps: list[object] = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if scale:
            steps.append(StandardScaler())
        parts.append(("numbers", make_pipeline(*steps), numeric))
    categories = profile.of(Kind.CATEGORY)
    if categories:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=2,
            max_categories=50,
            sparse_output=not dense,
        )
        parts.append(("categories", make_pipeline(Stringify(), encoder), categories))
    texts = profile.of(Kind.TEXT)
    if texts:
        vectoriser = TfidfVectorizer(
            max_features=text_features, sublinear_tf=True, ngram_range=(1, 2), min_df=1
        )
        parts.append(("text", make_pipeline(TextJoiner(), vectoriser), texts))
    dates = profile.of(Kind.DATE)
    if dates:
        date_steps: list[object] = [
            DateExpander(),
            SimpleImputer(strategy="median", keep_empty_features=True),
        ]
        if scale:
            date_steps.append(StandardScaler())
        parts.append(("dates", make_pipeline(*date_steps), dates))
    images = profile.of(Kind.IMAGE)
    if images:
        parts.append(
            ("images", ImageLoader(root=image_root, size=image_size, mode=image_mode), images[:1])
        )
    return ColumnTransformer(
        parts,  # type: ignore[arg-type]
        remainder="drop",
        sparse_threshold=0.0 if dense else 0.3,
        verbose_feature_names_out=True,
    )


def with_model(
    features: ColumnTransformer | Pipeline | TransformerMixin, model: BaseEstimator
) -> Pipeline:
    """The model pipeline: feature step ``features`` then the estimator ``model``."""
    return Pipeline([("features", features), ("model", model)])
