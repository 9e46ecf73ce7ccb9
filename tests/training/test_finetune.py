"""Fine-tuning (training/finetune.py): weights carried, classes extended, columns checked, lineage, refusals, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from catalog import Catalog
from core.errors import InvalidInputError
from harvest.cli import main
from tests.training.conftest import IRIS_SPECIES, articles, bundled
from training.card import model_lineage
from training.data import prepare
from training.families.nets.text import GRUClassifier, tokenize
from training.finetune import FineTuning
from training.registry import Registry
from training.spec import spec_from_mapping
from training.train import train

TINY_GPT = {"block_size": 32, "n_layer": 1, "n_embd": 32, "batch_size": 16,
            "max_steps": 60, "eval_interval": 20}  # fmt: skip
TINY_MLP = {"max_epochs": 8, "hidden": 16, "layers": 1}


def spec(dataset: str, target: str, **values: object):  # type: ignore[no-untyped-def]
    return spec_from_mapping({"dataset": dataset, "target": target, **values})


def iris(catalog: Catalog, name: str, drop: str | None = None) -> str:
    frame = bundled("iris").assign(species=lambda f: f["target"].map(IRIS_SPECIES))
    frame = frame.drop(columns="target")
    if drop in IRIS_SPECIES.values():
        frame = frame[frame["species"] != drop]
    elif drop:
        frame = frame.drop(columns=drop)
    return catalog.commit(name, frame, producer="user:test", key=("row_id",)).version.ref


def parent_lm(catalog: Catalog) -> tuple[str, str]:
    """A tiny GPT on day 1's articles (``articles-lm@1``) and day 2's articles' ref."""
    day1 = catalog.commit(
        "clean.articles", articles(60, seed=1), producer="user:test", key=("id",)
    ).version.ref
    lm = spec(day1, "body", name="articles-lm", families=["gpt"], trials=0, time_budget=20,
              params={"gpt": TINY_GPT})  # fmt: skip
    train(lm, catalog)
    day2 = catalog.commit(
        "clean.articles", articles(60, seed=2).assign(id=lambda f: f["id"] + 100),
        producer="user:test", key=("id",),
    ).version.ref  # fmt: skip
    return day1, day2


def test_a_fine_tuned_lm_starts_from_its_parents_loss_and_names_its_parent(
    catalog: Catalog,
) -> None:
    day1, day2 = parent_lm(catalog)
    result = train(spec(day2, "body", **{"from": "articles-lm@1"}, time_budget=3), catalog)
    registry = Registry(catalog)
    assert result.version.ref == "articles-lm@2" and result.version.dataset == day2
    run_spec = spec(day2, "body", task="language_modelling")
    X_val = prepare(run_spec, catalog).splits.X_val
    parent = registry.load(registry.get("articles-lm@1"))
    parent_loss = math.log(-parent.score(X_val))
    history = registry.load(result.version)[-1].history_
    assert history[0][0] == 0.0  # step 0: the weights it was given, before any training
    assert history[0][2] == pytest.approx(parent_loss, rel=1e-4)
    assert history[0][2] < 0.8 * math.log(257)  # far from an untrained model's loss
    # lineage: the registry row's events, the card down to the parent's data, the rival
    assert registry.parent(result.version) == "articles-lm@1"
    assert registry.parent(registry.get("articles-lm@1")) is None
    card = registry.card(result.version)
    assert [p["ref"] for p in model_lineage(card)] == ["articles-lm@1"]
    assert card["parent"]["data"]["ref"] == day1 and card["data"]["ref"] == day2
    assert card["fine_tuning"]["from"] == "articles-lm@1"
    assert card["fine_tuning"]["learning_rate"] == pytest.approx(2e-3 * 0.3)
    scratch = next(g for g in result.gates if g.gate == "scratch")
    assert scratch.reference == card["fine_tuning"]["from_scratch"] > 1.0
    assert [g.gate for g in result.gates] == ["baseline", "champion", "scratch"]
    metrics = json.loads((result.version.path / "metrics.json").read_text())
    assert metrics["fine_tuning"]["fine_tuned"] == pytest.approx(result.score)
    assert (
        f"`articles-lm@1` (gpt), trained on `{day1}`"
        in (result.version.path / "MODEL_CARD.md").read_text()
    )


def test_frozen_layers_keep_the_parents_weights(catalog: Catalog) -> None:
    _, day2 = parent_lm(catalog)
    result = train(
        spec(day2, "body", **{"from": "articles-lm@1"}, freeze=["tokens", "blocks.0.attn"],
             time_budget=2),
        catalog,
    )  # fmt: skip
    registry = Registry(catalog)
    before = registry.load(registry.get("articles-lm@1"))[-1].module_.state_dict()
    after = registry.load(result.version)[-1].module_.state_dict()
    assert torch.equal(before["tokens.weight"], after["tokens.weight"])
    assert torch.equal(before["blocks.0.attn.qkv.weight"], after["blocks.0.attn.qkv.weight"])
    with pytest.raises(
        InvalidInputError,
        match="freeze names a layer articles-lm@1 lacks; its layers are tokens, positions, blocks, ln",
    ):
        train(spec(day2, "body", **{"from": "articles-lm@1"}, freeze=["encoder"]), catalog)


def test_new_classes_extend_the_head_and_old_classes_keep_their_weights() -> None:
    texts = articles(60)
    two = texts[texts["section"] != "food"]
    model = GRUClassifier(max_epochs=2, embed_dim=8, hidden_size=8, random_state=0)
    model.fit(two["body"], two["section"])
    old_head = model.module_.head.weight.detach().clone()
    model.set_params(warm_start=True, max_epochs=0)  # no epoch: only the head is widened
    model.fit(texts["body"], texts["section"])
    assert list(model.classes_) == ["food", "sport", "tech"]
    assert model.predict_proba(texts["body"]).shape == (60, 3)
    head = model.module_.head.weight.detach()
    assert torch.equal(head[1:], old_head) and torch.count_nonzero(head[0]) == 0


def test_a_fine_tuned_classifier_learns_the_class_its_parent_never_saw(catalog: Catalog) -> None:
    first = iris(catalog, "clean.iris", drop="virginica")
    train(spec(first, "species", name="iris", families=["mlp"], trials=0, time_budget=10,
               params={"mlp": TINY_MLP}), catalog)  # fmt: skip
    second = iris(catalog, "clean.iris")
    lines: list[str] = []
    result = train(
        spec(second, "species", **{"from": "iris@1"}, time_budget=5), catalog, echo=lines.append
    )
    card = Registry(catalog).card(result.version)
    assert card["classes"] == ["setosa", "versicolor", "virginica"]
    assert "new class(es) 'virginica' extend the output layer" in lines
    assert card["fine_tuning"]["notes"] == ["new class(es) 'virginica' extend the output layer"]


def test_missing_feature_columns_are_one_sentence_and_register_nothing(catalog: Catalog) -> None:
    first = iris(catalog, "clean.iris")
    train(spec(first, "species", name="iris", families=["mlp"], trials=0, time_budget=10,
               params={"mlp": TINY_MLP}), catalog)  # fmt: skip
    narrower = iris(catalog, "clean.iris_narrow", drop="petal_length")
    with pytest.raises(InvalidInputError) as error:
        train(spec(narrower, "species", **{"from": "iris@1"}), catalog)
    assert str(error.value) == (
        f"{narrower} lacks the column(s) 'petal_length' that iris@1 was trained on, so it "
        "cannot be fine-tuned there; give a dataset with those columns, or train from scratch "
        "(without --from)."
    )
    assert [v.ref for v in Registry(catalog).versions("iris")] == ["iris@1"]


def test_scikit_learn_models_continue_with_warm_start_or_say_they_cannot(
    catalog: Catalog,
) -> None:
    ref = iris(catalog, "clean.iris")
    for family in ("forest", "tree"):
        train(spec(ref, "species", name=f"iris-{family}", families=[family], trials=0,
                   time_budget=10, params={"forest": {"n_estimators": 10}}), catalog)  # fmt: skip
    grown = train(spec(ref, "species", **{"from": "iris-forest@1"}, time_budget=5), catalog)
    forest = Registry(catalog).load(grown.version)[-1]
    assert forest.n_estimators == 20 and len(forest.estimators_) == 20
    with pytest.raises(InvalidInputError, match="has no layers to freeze; leave freeze out"):
        train(spec(ref, "species", **{"from": "iris-forest@1"}, freeze=["net"]), catalog)
    with pytest.raises(
        InvalidInputError, match=r"^iris-tree@1 is a tree model .*cannot be fine-tuned"
    ):
        train(spec(ref, "species", **{"from": "iris-tree@1"}), catalog)
    new_class = iris(catalog, "clean.iris_two", drop="virginica")
    train(spec(new_class, "species", name="iris-two", families=["forest"], trials=0,
               time_budget=10, params={"forest": {"n_estimators": 5}}), catalog)  # fmt: skip
    with pytest.raises(InvalidInputError, match="cannot grow new classes"):
        train(spec(ref, "species", **{"from": "iris-two@1"}), catalog)


def test_the_spec_takes_from_and_freeze_and_names_the_version_after_its_parent() -> None:
    tuned = spec("clean.articles@2", "body", **{"from": "articles-lm@1"}, freeze=["tokens"])
    assert (tuned.from_model, tuned.freeze, tuned.name) == (
        "articles-lm@1",
        ("tokens",),
        "articles-lm",
    )
    assert spec_from_mapping(tuned.to_json()).from_model == "articles-lm@1"
    assert "from" not in spec("clean.articles", "body").to_json()  # older cards stay as they were
    with pytest.raises(InvalidInputError, match="freeze applies only when fine-tuning"):
        spec("clean.articles", "body", freeze=["tokens"])


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    try:
        main(["--home", str(home), *args])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_fine_tunes_with_from_and_exits_non_zero_on_bad_parents(
    catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    home = catalog.workspace.home
    ref = iris(catalog, "clean.iris")
    narrower = iris(catalog, "clean.iris_narrow", drop="petal_length")
    for family in ("mlp", "tree"):
        train(spec(ref, "species", name=f"iris-{family}", families=[family], trials=0,
                   time_budget=10, params={"mlp": TINY_MLP}), catalog)  # fmt: skip
    code, out, _ = run(capsys, home, "train", "--from", "iris-mlp@1", "--dataset", ref,
                       "--time-budget", "3", "--json")  # fmt: skip
    assert code == 0
    summary = json.loads(out)
    assert summary["model"] == "iris-mlp@2" and summary["from"] == "iris-mlp@1"
    assert [g["gate"] for g in summary["gates"]] == ["baseline", "champion", "scratch"]
    for parent, dataset, sentence in (
        ("iris-tree@1", ref, "cannot be fine-tuned"),
        ("iris-mlp@1", narrower, "lacks the column(s) 'petal_length'"),
        ("iris-mlp@9", ref, "has no version 9"),
    ):
        code, out, err = run(capsys, home, "train", "--from", parent, "--dataset", dataset)
        assert code != 0 and sentence in err and "Traceback" not in err
    code, _, err = run(capsys, home, "train", "--from", "iris-mlp@1", "--dataset", ref,
                       "--freeze", "nope")  # fmt: skip
    assert code != 0 and "its layers are net" in err


def test_fine_tuning_notes_the_share_of_unknown_words(catalog: Catalog) -> None:
    first = catalog.commit(
        "clean.articles", articles(60, seed=1), producer="user:test", key=("id",)
    ).version.ref
    train(spec(first, "section", name="sections", families=["gru"], trials=0, time_budget=10,
               params={"gru": {"max_epochs": 2, "embed_dim": 8, "hidden_size": 8}}), catalog)  # fmt: skip
    frame = articles(60, seed=2).assign(body=lambda f: f["body"] + " zebra quokka")
    second = catalog.commit("clean.articles", frame, producer="user:test", key=("id",)).version.ref
    tuning = FineTuning.start(spec(second, "section", **{"from": "sections@1"}), catalog)
    prepared = prepare(tuning.spec, catalog)
    vocabulary = Registry(catalog).load(tuning.parent.version)[-1].vocabulary_
    assert not {"zebra", "quokka"} & set(vocabulary)
    words = sum(len(tokenize(body)) for body in prepared.splits.X_train["body"])
    share = 2 * len(prepared.splits.X_train) / words  # two unknown words in each text
    assert tuning.check(prepared) == (
        f"{share:.0%} of the training words are outside sections@1's vocabulary of "
        f"{len(vocabulary)} and read as unknown",
    )
