"""Outliers: flagged by the modified z-score, on a log scale for positive columns."""

from __future__ import annotations

import pyarrow as pa

from catalog.cleaning.outliers import flag_outliers, robust_z


def test_a_far_value_is_flagged_and_nulls_are_not() -> None:
    values = pa.array([10.0, 12, 15, 11, 13, 14, 0.01, None])
    assert flag_outliers(values).tolist() == [False] * 6 + [True, False]


def test_signed_columns_use_the_linear_scale() -> None:
    values = pa.array([-1.0, 0, 1, 2, -2, 0, 1, 40])
    assert flag_outliers(values).tolist() == [False] * 7 + [True]


def test_constant_columns_and_a_zero_mad_fall_back() -> None:
    assert not flag_outliers(pa.array([5.0] * 10)).any()
    assert flag_outliers(pa.array([0.0, 1, 1, 1, 1, 1, 1, 90])).tolist()[-1]
    assert robust_z(pa.array([1.0, 2.0])).tolist() != robust_z(pa.array([1.0, 2.0])).tolist()  # NaN
