"""The one error type people see: a sentence that says what was wrong and what to do.

Every package raises a subclass of :class:`HarvestError` for bad input or a state the
user can fix; the shells (CLI, Dagster, dashboard) print its message and exit non-zero
instead of showing a traceback.
"""

from __future__ import annotations


class HarvestError(Exception):
    """A problem the user can act on; ``str(error)`` is the sentence to show."""


class NotFoundError(HarvestError):
    """A dataset, version, source or model that does not exist."""


class InvalidInputError(HarvestError):
    """Input that cannot be used as given: a bad file, spec, name or value."""
