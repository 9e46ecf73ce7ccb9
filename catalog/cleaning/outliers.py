"""Outliers flagged, never dropped, by the modified z-score of Iglewicz and Hoaglin.

For each numeric column ``z = 0.6745 * (x - median) / MAD`` (median absolute deviation);
``|z| > threshold`` (3.5 by default) flags the row. When more than half the values are
equal the MAD is 0 and the mean absolute deviation (times 1.2533, its ratio to the standard
deviation for normal data) is used instead; a constant column has no outliers. A column
whose values are all positive (prices, counts, sizes: things that grow by multiplying) is
scored on ``log(x)``: a shop's prices spread by ratios, so a €0.01 price stands out among
€10 to €2,000 ones while a €2,000 camera does not.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.values import one_array

_MAD_SCALE = 0.6745
_MEAN_AD_SCALE = 0.7979  # the mean absolute deviation is about 0.7979 σ for normal data


def robust_z(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The modified z-score of each value (NaN where the value is null or the column constant)."""
    values = pc.cast(one_array(column), pa.float64()).to_numpy(zero_copy_only=False)
    values = np.asarray(values, dtype=np.float64)
    known = values[~np.isnan(values)]
    if len(known) and known.min() > 0:
        values, known = np.log(values), np.log(known)
    z = np.full(len(values), np.nan)
    if len(known) < 3:
        return z
    median = float(np.median(known))
    deviation = np.abs(known - median)
    mad = float(np.median(deviation))
    if mad > 0:
        return _MAD_SCALE * (values - median) / mad
    mean_ad = float(deviation.mean())
    if mean_ad > 0:
        return _MEAN_AD_SCALE * (values - median) / mean_ad
    return z


def flag_outliers(column: pa.Array | pa.ChunkedArray, threshold: float = 3.5) -> np.ndarray:
    """True for each value whose modified z-score is beyond ``threshold``."""
    z = robust_z(column)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.abs(z), nan=0.0) > threshold
