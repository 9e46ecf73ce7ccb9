"""The baseline every search measures first: class prior, mean, byte unigram, or a random policy."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from training.families import Family, FamilyContext, no_space
from training.task import Params, Task


def build_dummy(ctx: FamilyContext, params: Params) -> Pipeline:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from training.features import TextJoiner, with_model

    if ctx.task is Task.LANGUAGE_MODELLING:
        from training.families.nets.language import UnigramLanguageModel

        return with_model(TextJoiner(tuple(ctx.profile.names)), UnigramLanguageModel())
    model = DummyClassifier(strategy="prior") if ctx.task.is_classification else DummyRegressor()
    return Pipeline([("features", "passthrough"), ("model", model)])


_LANGUAGE = "training.families.nets.language.UnigramLanguageModel"

FAMILIES = (
    Family(
        name="dummy",
        description="class prior / mean / byte unigram / random policy — the baseline, always run first",
        tasks=frozenset(Task),
        default_for=frozenset(Task),
        build=build_dummy,
        space=no_space,
        estimators=("sklearn.dummy.DummyClassifier", "sklearn.dummy.DummyRegressor", _LANGUAGE),
        saved_nodes=frozenset(
            {
                ("ObjectNode", "sklearn.dummy.DummyClassifier"),
                ("ObjectNode", "sklearn.dummy.DummyRegressor"),
                ("ObjectNode", _LANGUAGE),
            }
        ),
        rank=0,
    ),
)
