"""Models: the list, a model's versions, a version's card and plots, and predictions.

A model exists for a caller only when they may use it (:meth:`Accounts.may_use_model`: it
follows the dataset it was trained on unless set otherwise); any other reads as a model that
never existed. A card names only the datasets the caller may see.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from catalog.access import Principal, dataset_of_model
from core.errors import InvalidInputError, NotFoundError
from server.deps import PrincipalDep, Services, ServicesDep
from server.problems import RESPONSES
from server.schemas import ModelOut, ModelVersionOut, PredictRequest, PredictResult
from training.predict import load_model, predict_loaded
from training.registry import ModelVersion, parse_model_ref

router = APIRouter(prefix="/v1/models", tags=["models"], responses=RESPONSES)

Ref = Annotated[
    str,
    Path(
        description="A model (its champion, else its latest), `name@N`, or `name@champion`.",
        max_length=200,
    ),
]


def _no_model(name: str) -> NotFoundError:
    return NotFoundError(f"There is no model '{name}'.")


def _usable(s: Services, principal: Principal, version: ModelVersion) -> bool:
    return s.accounts.may_use_model(principal, version.model, version.dataset)


def find_model(s: Services, principal: Principal, ref: str) -> ModelVersion:
    """The exact version ``ref`` names, if the caller may use it."""
    try:
        name, _ = parse_model_ref(ref)
    except InvalidInputError:
        raise _no_model(ref.split("@", 1)[0]) from None
    versions = s.registry.versions(name)
    if not any(_usable(s, principal, v) for v in versions):
        raise _no_model(name)
    version = s.registry.get(ref)
    if not _usable(s, principal, version):
        raise NotFoundError(f"Model '{name}' has no version {ref.partition('@')[2]}.")
    return version


def _version_out(s: Services, principal: Principal, v: ModelVersion) -> ModelVersionOut:
    seen = s.accounts.may_see(principal, dataset_of_model(v.dataset))
    return ModelVersionOut(
        ref=v.ref,
        model=v.model,
        version=v.version,
        task=v.task,
        target=v.target,
        family=v.family,
        metric=v.metric,
        score=v.score,
        baseline=v.baseline,
        dataset=v.dataset if seen else None,
        gates_passed=v.gates_passed,
        created_at=v.created_at,
        aliases=list(v.aliases),
    )


HIDDEN = "a dataset you cannot see"


def redact_card(card: dict[str, Any], may_see: Callable[[str], bool]) -> dict[str, Any]:
    """``card`` naming only the datasets ``may_see(name)`` allows: its lineage loses the
    others, and any other mention of them (the training data, the spec, the intended use)
    reads as :data:`HIDDEN`."""
    out = copy.deepcopy(card)
    found = out.get("data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    steps = [s for s in data.get("lineage") or [] if isinstance(s, dict)]
    named = {dataset_of_model(str(s.get("ref", ""))) for s in steps}
    named |= {dataset_of_model(str(p)) for s in steps for p in s.get("parents", [])}
    named.add(dataset_of_model(str(data.get("dataset") or "")))
    hidden = sorted((n for n in named if n and not may_see(n)), key=len, reverse=True)
    if not hidden:
        return out
    if steps:
        data["lineage"] = [
            {**s, "parents": [p for p in s.get("parents", []) if dataset_of_model(p) not in hidden]}
            for s in steps
            if dataset_of_model(str(s.get("ref", ""))) not in hidden
        ]
    text = json.dumps(out)
    for name in hidden:
        text = re.sub(rf"{re.escape(name)}(@\d+)?(?![a-z0-9_])", HIDDEN, text)
    redacted: dict[str, Any] = json.loads(text)
    return redacted


@router.get("", response_model=list[ModelOut], summary="List models")
def list_models(s: ServicesDep, principal: PrincipalDep) -> list[ModelOut]:
    found = []
    for name in s.registry.models():
        versions = s.registry.versions(name)
        usable = [v for v in versions if _usable(s, principal, v)]
        if not usable:
            continue
        champion = s.registry.alias(name, "champion")
        shown = next((v for v in usable if v.version == champion), usable[-1])
        found.append(
            ModelOut(
                name=name,
                versions=len(usable),
                champion=champion if any(v.version == champion for v in usable) else None,
                latest=usable[-1].version,
                task=shown.task,
                target=shown.target,
                metric=shown.metric,
                score=shown.score,
            )
        )
    return found


@router.get("/{name}/versions", response_model=list[ModelVersionOut], summary="A model's versions")
def model_versions(s: ServicesDep, principal: PrincipalDep, name: Ref) -> list[ModelVersionOut]:
    model = find_model(s, principal, name.split("@", 1)[0]).model
    return [
        _version_out(s, principal, v)
        for v in s.registry.versions(model)
        if _usable(s, principal, v)
    ]


@router.get("/{ref}/card", response_model=dict[str, Any], summary="A model version's card")
def model_card(s: ServicesDep, principal: PrincipalDep, ref: Ref) -> dict[str, Any]:
    version = find_model(s, principal, ref)
    card = s.registry.card(version)
    return redact_card(card, lambda name: s.accounts.may_see(principal, name))


@router.get(
    "/{ref}/plots/{file}",
    summary="A plot from a model version's card",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}},
)
def model_plot(
    s: ServicesDep,
    principal: PrincipalDep,
    ref: Ref,
    file: Annotated[str, Path(max_length=200)],
) -> FileResponse:
    """Only a file the card lists among its plots."""
    version = find_model(s, principal, ref)
    listed = {str(p).rsplit("/", 1)[-1]: str(p) for p in s.registry.card(version).get("plots", [])}
    if file not in listed or not (version.path / listed[file]).is_file():
        raise NotFoundError(f"Model {version.ref} has no plot '{file}'.")
    return FileResponse(version.path / listed[file], media_type="image/png")


def predict(s: Services, ref: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predictions of the exact version ``ref`` (``name@N``) for ``records``: the one place
    the API calls into prediction. A version never changes, so its loaded model is kept."""
    model = s.loaded.get(ref, lambda: load_model(s.catalog, ref))
    return [
        {k: v for k, v in predict_loaded(model, record).items() if k != "model"}
        for record in records
    ]


@router.post("/{ref}/predict", response_model=PredictResult, summary="Predict")
def model_predict(
    body: PredictRequest, s: ServicesDep, principal: PrincipalDep, ref: Ref
) -> PredictResult:
    """Predictions of the champion (or ``name@N``, or an alias) for one record or a batch;
    every record is checked against the model's input schema."""
    version = find_model(s, principal, ref)
    return PredictResult(model=version.ref, predictions=predict(s, version.ref, body.records))
