"""``harvest train``, ``harvest models ...`` and ``harvest predict``: output, JSON listings, errors with exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.workspace import Workspace
from harvest.cli import main

SPECIES = {0: "setosa", 1: "versicolor", 2: "virginica"}
FLOWER = '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (fast); returns exit code, stdout, stderr."""
    try:
        main(["--home", str(home), *args])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with imports.iris and a model trained by the real CLI in a child process."""
    from sklearn.datasets import load_iris

    root = tmp_path_factory.mktemp("cli")
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    frame = frame.assign(species=frame["target"].map(SPECIES)).drop(columns="target")
    frame.insert(0, "id", range(len(frame)))
    csv = root / "iris.csv"
    frame.to_csv(csv, index=False)
    home = root / "home"
    cli = [sys.executable, "-m", "harvest", "--home", str(home)]
    subprocess.run(
        [*cli, "import", str(csv), "--name", "iris", "--key", "id"], check=True, capture_output=True
    )
    trained = subprocess.run(
        [*cli, "train", "--dataset", "iris", "--target", "species", "--families", "linear", "--trials", "0",
         "--time-budget", "5", "--name", "iris"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "trial   1 selection linear" in trained.stdout
    assert (
        "iris@1: linear, accuracy" in trained.stdout and "promoted to champion." in trained.stdout
    )
    return home


def test_bad_input_is_one_line_and_exit_1_in_a_real_process(home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harvest", "--home", str(home), "train", "--dataset", "iris", "--target", "colour"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "error: Target column 'colour' is not in imports.iris@1"
    )
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_models_list_and_show(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, home, "models", "list", "--json")
    (listed,) = json.loads(out)
    assert code == 0 and listed["ref"] == "iris@1" and listed["aliases"] == ["champion"]
    assert listed["dataset"] == "imports.iris@1" and listed["metric"] == "accuracy"
    code, out, _ = run(capsys, home, "models", "list")
    assert code == 0 and "iris@1" in out and "champion" in out
    code, out, _ = run(capsys, home, "models", "show", "iris", "--json")
    card = json.loads(out)
    assert (
        card["ref"] == "iris@1"
        and card["data"]["ref"] == "imports.iris@1"
        and card["aliases"] == ["champion"]
    )
    code, out, _ = run(capsys, home, "models", "show", "iris@1")
    assert code == 0 and "# Model card: iris@1" in out and "Aliases: champion" in out
    code, out, _ = run(capsys, home, "models", "runs", "--json")
    assert code == 0 and "done" in {r["status"] for r in json.loads(out)}


def test_models_visibility(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from catalog import Catalog
    from catalog.access import Accounts

    code, out, _ = run(capsys, home, "models", "visibility", "iris@champion", "gated")
    assert code == 0 and out.strip() == "iris: gated."
    assert Accounts(Catalog.open(Workspace.at(home))).state().models == {"iris": "gated"}
    code, out, _ = run(capsys, home, "models", "visibility", "iris", "inherit")
    assert code == 0 and out.strip() == "iris: follows its dataset's visibility."
    assert Accounts(Catalog.open(Workspace.at(home))).state().models == {}
    code, _, err = run(capsys, home, "models", "visibility", "iris", "hidden")
    assert code == 1 and "'hidden' is not a model visibility" in err
    code, _, err = run(capsys, home, "models", "visibility", "nope", "public")
    assert code == 1 and "There is no model 'nope'" in err


def test_promote(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, home, "models", "promote", "iris@1")
    assert code == 0 and "iris@1 is already the champion." in out
    code, _, err = run(capsys, home, "models", "promote", "iris@9")
    assert code == 1 and "Model 'iris' has no version 9" in err


def test_rollback_needs_an_earlier_champion(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, home, "models", "rollback", "iris")
    assert code == 1 and err.strip() == "error: iris has had no earlier champion to roll back to."
    code, _, err = run(capsys, home, "models", "rollback", "tulip")
    assert code == 1 and "tulip" in err and len(err.strip().splitlines()) == 1


def test_predict_a_record_a_file_and_a_dataset(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, home, "predict", "iris", "--record", FLOWER)
    answer = json.loads(out)
    assert code == 0 and answer["prediction"] == "setosa" and answer["model"] == "iris@1"
    source = tmp_path / "in.csv"
    source.write_text(
        "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
    )
    code, out, _ = run(
        capsys,
        home,
        "predict",
        "iris@1",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "out.csv"),
    )
    assert code == 0 and "Wrote 2 predictions" in out
    assert (
        (tmp_path / "out.csv")
        .read_text()
        .splitlines()[0]
        .endswith("prediction,probability,proba_setosa,proba_versicolor,proba_virginica")
    )
    code, out, _ = run(capsys, home, "predict", "iris", "--input", str(source))
    assert code == 0 and out.count("\n") == 3 and "virginica" in out
    code, out, err = run(capsys, home, "predict", "iris", "--dataset", "iris")
    assert code == 0 and "Committed predictions.iris@1: 150 predictions." in out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("predict", "iris", "--record", "{not json"), "--record is not valid JSON"),
        (("predict", "iris"), "Give exactly one of --input FILE, --dataset NAME or --record JSON."),
        (("predict", "roses", "--record", FLOWER), "There is no model 'roses'"),
        (("train", "--dataset", "iris"), "Give --dataset and --target, or a --spec file."),
        (
            ("train", "--dataset", "iris", "--target", "species", "--families", "svmm"),
            "Unknown model family 'svmm'",
        ),
        (("train", "--spec", "nowhere.yaml"), "Training spec nowhere.yaml does not exist"),
    ],
)
def test_errors_are_one_sentence(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, home, *args)
    assert code == 1 and message in err and "Traceback" not in err


def test_train_from_a_spec_file_with_json_output(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: iris-tree\ndataset: imports.iris\ntarget: species\nfamilies: [tree]\ntrials: 0\n"
        "time_budget: 5\nsplit: {key: id}\n"
    )
    code, out, err = run(capsys, home, "train", "--spec", str(spec), "--json", "--seed", "1")
    assert code == 0, err
    summary = json.loads(out)
    assert (
        summary["model"] == "iris-tree@1"
        and summary["family"] == "tree"
        and summary["promoted"] == "champion"
    )
    assert summary["gates"][0]["gate"] == "baseline"
    assert Workspace.at(home).models.joinpath("iris-tree", "1", "MODEL_CARD.md").exists()


def test_predict_reports_ignored_columns_and_refuses_wrong_types(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "sepal_length,sepal_width,petal_length,petal_width,colour\n5.1,3.5,1.4,0.2,blue\n"
    )
    code, out, err = run(capsys, home, "predict", "iris", "--input", str(extra))
    assert code == 0 and "setosa" in out
    assert err.strip() == "warning: ignored the column colour, which iris does not use as input."
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,wide\n")
    code, out, err = run(capsys, home, "predict", "iris", "--input", str(wrong))
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.strip() == (
        "error: wrong.csv: column 'petal_width' takes a number, but row 1 holds the text 'wide'."
    )
    code, _, err = run(capsys, home, "predict", "iris", "--record", '{"petal_width": [1]}')
    assert code == 1 and "Field 'petal_width' takes a number, but the record gives a list" in err


def test_a_hostile_model_file_is_refused_by_predict_and_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probe's model.skops (FunctionTransformers ending in eval) runs nothing and is one sentence."""
    import skops.io as sio

    from catalog import Catalog
    from tests.training.test_artifacts import probe_chain
    from training.registry import Registration, Registry

    home, marker = tmp_path / "home", tmp_path / "ran"
    with Catalog.open(Workspace.at(home).ensure()) as catalog:
        registry = Registry(catalog)
        staging = registry.staging("evil")
        sio.dump(probe_chain(marker), staging / "model.skops")
        card = {"family": "dummy", "features": {"columns": [{"name": "x", "kind": "number"}]}}
        entry = Registration(
            task="classification", target="y", family="dummy", metric="accuracy", score=1.0,
            baseline=0.5, dataset="imports.x@1", content_hash="", gates_passed=True, run_id="r",
        )  # fmt: skip
        registry.register(
            "evil", staging, entry, lambda n, f: (f / "card.json").write_text(json.dumps(card))
        )
    for args in (("predict", "evil", "--record", '{"x": 1}'), ("models", "show", "evil")):
        code, out, err = run(capsys, home, *args)
        assert code == 1 and out == "" and len(err.strip().splitlines()) == 1, (args, err)
        assert "Harvest does not trust" in err
        assert not marker.exists()
