"""What a model learns to do (:class:`Task`) and the parameter values a spec may give a family.

A leaf module: the spec, the families and everything between import it, and it imports
nothing of Harvest's, so no two of them need each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

ParamValue = int | float | str | bool | None
Params = Mapping[str, ParamValue]


class Task(StrEnum):
    """What a model learns to do."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    TEXT_CLASSIFICATION = "text_classification"
    IMAGE_CLASSIFICATION = "image_classification"
    LANGUAGE_MODELLING = "language_modelling"
    REINFORCEMENT_LEARNING = "reinforcement_learning"  # a policy in an environment, no target

    @property
    def is_classification(self) -> bool:
        return self in (Task.CLASSIFICATION, Task.TEXT_CLASSIFICATION, Task.IMAGE_CLASSIFICATION)
