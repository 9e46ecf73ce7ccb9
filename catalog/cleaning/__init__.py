"""Cleaning and data quality: raw versions into typed, deduplicated, scrubbed clean versions
with a quality report, rules that can stop the line, and a score.

``clean(catalog, source, spec)`` is the way in (``catalog/cleaning/pipeline.py``); specs
are described in ``catalog/cleaning/spec.py`` and docs/cleaning.md.
"""

from catalog.cleaning.pipeline import CleanResult, clean
from catalog.cleaning.report import QualityReport, from_json, to_json
from catalog.cleaning.spec import CleanSpec, find_spec, load_spec, spec_files

__all__ = [
    "CleanResult",
    "CleanSpec",
    "QualityReport",
    "clean",
    "find_spec",
    "from_json",
    "load_spec",
    "spec_files",
    "to_json",
]
