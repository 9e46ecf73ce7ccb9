"""Model files: every family's saved model loads with the exact trust list; hostile files are refused and run nothing."""

from __future__ import annotations

import functools
import json
import operator
import os
import pickle
import random
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from core.errors import HarvestError, InvalidInputError
from tests.training.conftest import articles, digit_images
from training import registry as registry_module
from training.artifacts import FEATURE_NODES, skops_nodes, trusted_nodes
from training.families import FAMILIES, Family, FamilyContext
from training.features import Column, FeatureProfile, Kind, profile_columns
from training.registry import load_pipeline, save_pipeline
from training.search import fit_pipeline
from training.task import Task

FAST = {
    "mlp": {"max_epochs": 2},
    "cnn": {"max_epochs": 2},
    "gru": {"max_epochs": 1},
    "transformer": {"max_epochs": 1},
    "gpt": {"max_steps": 3, "eval_interval": 3, "block_size": 8},
}
DATA_ONLY = {"NdArrayNode", "TypeNode"}  # array element types: numbers, never callables


def mixed_table(n: int = 60) -> pd.DataFrame:
    """Every kind of table feature: numbers, counts, booleans, categories, text and dates."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "number": rng.normal(size=n),
            "count": rng.integers(0, 50, n),
            "flag": rng.random(n) < 0.5,
            "colour": rng.choice(["red", "green", "blue", "grey"], n),
            "body": articles(n)["body"],
            "day": pd.date_range("2024-01-01", periods=n, freq="D").astype(str),
        }
    )


def problems(media: Path) -> Iterator[tuple[Task, pd.DataFrame, str]]:
    rng = np.random.default_rng(1)
    table = mixed_table()
    yield Task.CLASSIFICATION, table.assign(t=rng.choice(["a", "b", "c"], len(table))), "t"
    yield Task.CLASSIFICATION, table.assign(t=rng.choice([0, 1], len(table))), "t"
    yield Task.REGRESSION, table.assign(t=rng.normal(size=len(table))), "t"
    yield Task.TEXT_CLASSIFICATION, articles(60)[["body", "section"]], "section"
    yield Task.LANGUAGE_MODELLING, articles(60)[["body"]], "body"
    yield Task.IMAGE_CLASSIFICATION, digit_images(media, limit=150)[["image", "digit"]], "digit"


@dataclass(frozen=True)
class Saved:
    family: Family
    task: Task
    folder: Path
    X: pd.DataFrame
    predictions: np.ndarray


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> list[Saved]:
    """A small fitted model of every family for every task it does, saved as the registry saves it."""
    root = tmp_path_factory.mktemp("families")
    out = []
    for task, frame, target in problems(root):
        if task is Task.LANGUAGE_MODELLING:
            profile = FeatureProfile((Column(target, Kind.TEXT),))
        else:
            profile = profile_columns(frame, target)
        context = FamilyContext(
            task, profile, image_root=str(root), image_size=(8, 8), image_mode="L"
        )
        X = frame[profile.names].head(60)
        y = None if task is Task.LANGUAGE_MODELLING else frame[target].head(60).to_numpy()
        if task is Task.IMAGE_CLASSIFICATION:  # every digit in the 10% early-stopping split
            X, y = frame[profile.names], frame[target].to_numpy()
        for family in FAMILIES:
            if task in family.tasks:
                pipeline = fit_pipeline(family.build(context, FAST.get(family.name, {})), X, y)
                folder = root / f"{family.name}-{task.value}-{len(out)}"
                folder.mkdir()
                save_pipeline(pipeline, folder)
                head = X.head(5)
                out.append(Saved(family, task, folder, head, pipeline.predict(head)))
    return out


def test_every_family_saves_a_model_that_loads_with_the_exact_trust_list(
    saved: list[Saved],
) -> None:
    used: dict[str, set[tuple[str, str]]] = {f.name: set() for f in FAMILIES}
    for model in saved:
        allowed = FEATURE_NODES | model.family.saved_nodes
        for file in model.folder.glob("*.skops"):
            nodes = skops_nodes(file)
            assert nodes <= allowed, (model.family.name, model.task, nodes - allowed)
            used[model.family.name] |= nodes
        loaded = load_pipeline(model.folder)
        final = type(loaded[-1])
        assert f"{final.__module__}.{final.__qualname__}" in model.family.estimators
        if model.task is not Task.LANGUAGE_MODELLING:  # generation samples; the rest is the same
            again = loaded.predict(model.X)
            same = np.allclose if again.dtype.kind == "f" else np.array_equal
            assert same(again, model.predictions), model.family.name
    policies = Task.REINFORCEMENT_LEARNING  # saved as a policy network: tests/training/test_rl.py
    assert {(f.name, t) for f in FAMILIES for t in f.tasks if t is not policies} == {
        (m.family.name, m.task) for m in saved
    }
    for f in FAMILIES:
        assert f.saved_nodes <= used[f.name], f"{f.name} declares nodes it never saves"
    unused = {pair for pair in FEATURE_NODES - set().union(*used.values())}
    assert {loader for loader, _ in unused} <= DATA_ONLY, f"trusted but never saved: {unused}"
    assert trusted_nodes() == FEATURE_NODES.union(*(f.saved_nodes for f in FAMILIES))


# -- hostile files ---------------------------------------------------------------


def payload(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def probe_chain(marker: Path) -> Pipeline:
    """The probe's attack: FunctionTransformers chaining numpy.full_like, ravel, iter, next and eval."""
    steps: list[Callable[..., Any]] = [np.full_like, np.ravel, iter, next, eval]
    transformers = [
        (
            f"step{i}",
            FunctionTransformer(
                func, kw_args={"fill_value": payload(marker), "dtype": object} if i == 0 else None
            ),
        )
        for i, func in enumerate(steps)
    ]
    for _, transformer in transformers:  # fitted one by one: fitting the chain would run it
        transformer.fit(pd.DataFrame({"x": [1.0]}))
    return Pipeline([*transformers, ("model", DummyClassifier().fit([[0], [1]], [0, 1]))])


def test_the_probes_attack_chain_works_unsaved_and_is_refused_saved(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(TypeError):  # eval's None reaches the model, after the payload ran
        probe_chain(marker).predict(pd.DataFrame({"x": [1.0]}))
    assert marker.exists(), "the payload is real: predicting with it writes the marker"
    marker.unlink()
    sio.dump(probe_chain(marker), tmp_path / "model.skops")
    with pytest.raises(InvalidInputError, match=r"does not trust \((builtins\.eval|numpy\.)"):
        load_pipeline(tmp_path)
    assert not marker.exists()


class Pickled:
    """A pickle whose loading runs the payload (``__reduce__``)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return exec, (self.code,)


def dangerous_callables(marker: Path) -> list[Callable[..., Any]]:
    """Callables of the modules the old prefix list trusted (numpy, builtins...) and worse."""
    return [
        np.full_like, np.ravel, np.save, np.load, np.fromfile, np.loadtxt, np.frompyfunc,
        iter, next, eval, exec, open, getattr, setattr, __import__, compile, print,
        operator.attrgetter("system"), operator.methodcaller("write", "x"), operator.call,
        functools.partial(exec, payload(marker)), functools.partial(eval, payload(marker)),
        os.system, os.remove, subprocess.getoutput, shutil.rmtree, pickle.loads,
        registry_module.remove_staging, str.format, "".join,
    ]  # fmt: skip


def carriers(func: Callable[..., Any], other: Callable[..., Any]) -> list[object]:
    """Trusted-looking estimators that would call ``func`` at predict time."""
    return [
        FunctionTransformer(func, inverse_func=other),
        FunctionTransformer(func, kw_args={"x": payload(Path("x"))}),
        TfidfVectorizer(analyzer=func),
        TfidfVectorizer(preprocessor=func, tokenizer=other),
        ColumnTransformer([("x", "passthrough", func)]),
        OneHotEncoder(feature_name_combiner=func),
    ]


def hostile_skops(rng: random.Random, marker: Path) -> object:
    functions = dangerous_callables(marker)
    steps = [
        (f"s{i}", rng.choice(carriers(rng.choice(functions), rng.choice(functions))))
        for i in range(rng.randint(1, 4))
    ]
    return Pipeline([*steps, ("model", DummyClassifier())])


def rewritten_schema(honest: Path, rng: random.Random, target: Path) -> None:
    """An honest model file with one node's type (and maybe loader) changed by hand."""
    with zipfile.ZipFile(honest) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(files["schema.json"])
    nodes = []
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node:
                nodes.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    node = rng.choice(nodes)
    module, name = rng.choice(
        [("builtins", "eval"), ("os", "system"), ("numpy", "full_like"), ("operator", "call"),
         ("sklearn.pipeline", "Pipeline"), ("builtins", "exec"), ("posix", "system")]
    )  # fmt: skip
    node.update({"__module__": module, "__class__": name})
    loader = ["FunctionNode", "MethodNode", "ReduceNode", "ObjectNode", "PartialNode"]
    node["__loader__"] = rng.choice([node.get("__loader__"), *loader])
    if (module, name) == ("sklearn.pipeline", "Pipeline") and node["__loader__"] == "ObjectNode":
        node["__loader__"] = "ReduceNode"  # the one honest pair: make it dishonest
    files["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for file_name, data in files.items():
            archive.writestr(file_name, data)


def write_case(kind: str, folder: Path, rng: random.Random, marker: Path, honest: Path) -> None:
    """One hostile model folder of the given ``kind``."""
    folder.mkdir()
    code = payload(marker)
    if kind == "skops":
        sio.dump(hostile_skops(rng, marker), folder / "model.skops")
    elif kind == "schema":
        rewritten_schema(honest / "model.skops", rng, folder / "model.skops")
    elif kind == "pickle-as-skops":
        (folder / "model.skops").write_bytes(pickle.dumps(Pickled(code)))
    else:  # a PyTorch model whose weights are a pickle, plain or in torch's zip
        import torch

        (folder / "model.json").write_text(json.dumps({"class": "MLPRegressor", "params": {}}))
        shutil.copy(honest / "model.skops", folder / "features.skops")
        if kind == "pickle-as-pt":
            (folder / "model.pt").write_bytes(pickle.dumps({"w": Pickled(code)}))
        else:
            torch.save({"w": Pickled(code)}, folder / "model.pt")


KINDS = ("skops", "schema", "pickle-as-skops", "pickle-as-pt", "torch-zip")


def test_fuzzed_model_files_are_refused_with_a_sentence_and_run_nothing(tmp_path: Path) -> None:
    honest = tmp_path / "honest"
    honest.mkdir()
    sio.dump(
        Pipeline([("features", "passthrough"), ("model", DummyClassifier())]).fit(
            [[0], [1]], [0, 1]
        ),
        honest / "model.skops",
    )
    assert load_pipeline(honest).predict([[0]]).shape == (1,)
    rng = random.Random(21)
    marker = tmp_path / "ran"
    refused: dict[str, int] = {}
    for case in range(150):
        kind = KINDS[case % len(KINDS)]
        folder = tmp_path / f"case{case}"
        write_case(kind, folder, rng, marker, honest)
        with pytest.raises(HarvestError) as error:
            pipeline = load_pipeline(folder)
            pipeline.predict(pd.DataFrame({"x": [payload(marker)]}))  # only if it loaded
        message = str(error.value)
        assert "\n" not in message and message.endswith("it was not loaded."), message
        assert not marker.exists(), f"case {case} ({kind}) ran its payload"
        refused[kind] = refused.get(kind, 0) + 1
    assert refused == {kind: 30 for kind in KINDS}


def test_a_pickle_saved_as_a_model_file_is_one_sentence(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "model.skops").write_bytes(pickle.dumps(Pickled(payload(marker))))
    with pytest.raises(InvalidInputError, match=r"model\.skops is not a skops file; it was not"):
        load_pipeline(tmp_path)
    assert not marker.exists()


def test_functions_inside_loaded_objects_are_checked_whatever_the_schema_said(
    tmp_path: Path,
) -> None:
    from training.artifacts import check_callables

    check_callables(Pipeline([("model", DummyClassifier())]), tmp_path / "model.skops")
    for hostile in (
        TfidfVectorizer(analyzer=eval),
        Pipeline([("f", FunctionTransformer(np.full_like))]),
        {"nested": [ColumnTransformer([("x", "passthrough", functools.partial(exec, "1"))])]},
        FunctionTransformer(registry_module.remove_staging),  # Harvest's, but not a trusted one
    ):
        with pytest.raises(InvalidInputError, match="contains a function Harvest does not trust"):
            check_callables(hostile, tmp_path / "model.skops")
