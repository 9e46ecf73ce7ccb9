"""Sizes as people write them: ``500MB``, ``2GB``, ``1.5 GiB``, ``0``."""

from __future__ import annotations

import re

from core.errors import InvalidInputError

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}  # fmt: skip
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*((?:[KMGT]I?)?B)?\s*")


def parse_size(text: str, *, unit: bool = False) -> int | None:
    """``text`` in bytes (decimal KB/MB/GB/TB, binary KiB/MiB/GiB/TiB), or None when it is
    not a size; with ``unit``, a bare number is not one either."""
    found = _SIZE.fullmatch(text.upper())
    if found is None or (unit and not found[2]):
        return None
    return int(float(found[1]) * _UNITS[found[2] or ""])


def given_size(text: str, name: str) -> int:
    """``text``, the value of the option or setting ``name``, in bytes; one sentence when it
    is not a size."""
    size = parse_size(text)
    if size is None:
        raise InvalidInputError(
            f"{name}={text!r} is not a size: give bytes, or a number with a unit such as "
            "500MB, 2GB or 1.5TB."
        )
    return size


def shown_size(size: int) -> str:
    """``size`` bytes for people: ``1.5 GB``, ``320.0 kB``, ``12 B``."""
    for name, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= factor:
            return f"{size / factor:.1f} {name}"
    return f"{size} B"
