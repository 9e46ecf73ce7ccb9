"""``harvest train``, ``harvest models list|show|promote|rollback|visibility|runs|serve`` and ``harvest predict``: shells over ``training``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from catalog import Catalog
from core.errors import InvalidInputError
from core.workspace import Workspace
from harvest import output
from harvest.output import JsonFlag

models_app = typer.Typer(
    help="Registered models: versions, cards, promotion.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the training commands to ``app``."""
    app.command("train")(train_command)
    app.command("tune-worker")(tune_worker_command)
    app.command("train-node")(train_node_command)
    app.add_typer(models_app, name="models")
    app.command("predict")(predict_command)


def _split(values: str | None) -> list[str] | None:
    return [v.strip() for v in values.split(",") if v.strip()] if values else None


def train_command(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset to train on: name or name@N.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Column to predict (for a language model: the text).")
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="A training spec (YAML), or a bundled spec's name.")
    ] = None,
    families: Annotated[
        str | None, typer.Option(help="Families to try, comma-separated (default: the task's).")
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option("--time-budget", help="Seconds for selection and tuning.")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Most tuning trials (0: no tuning).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    name: Annotated[
        str | None, typer.Option(help="Model name (default <dataset>-<target>).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Task, if not the inferred one.")] = None,
    metric: Annotated[str | None, typer.Option(help="Metric, if not the task's default.")] = None,
    features: Annotated[str | None, typer.Option(help="Feature columns, comma-separated.")] = None,
    environment: Annotated[
        str | None,
        typer.Option(help="Reinforcement learning: a Gymnasium id, or repricing (with --dataset)."),
    ] = None,
    from_model: Annotated[
        str | None,
        typer.Option("--from", help="Fine-tune this registered version (MODEL@N) on the dataset."),
    ] = None,
    freeze: Annotated[
        str | None, typer.Option(help="When fine-tuning: layers left as they are, comma-separated.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="Id for the run's progress folder.")
    ] = None,
    no_promote: Annotated[
        bool, typer.Option("--no-promote", help="Register without setting aliases.")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", help="Processes running tuning trials on one shared Optuna study."
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the result.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Train, validate and register a model; promote it if it passes the gates."""
    from training.spec import load_spec, spec_from_mapping
    from training.train import train

    overrides: dict[str, Any] = {
        "families": _split(families),
        "time_budget": time_budget,
        "trials": trials,
        "seed": seed,
        "name": name,
        "task": task,
        "metric": metric,
        "features": _split(features),
        "environment": environment,
        "from": from_model,
        "freeze": _split(freeze),
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    catalog: Catalog | None = None
    if spec is not None:
        loaded = load_spec(spec)
        values: dict[str, Any] = {**loaded.to_json(), **given}
        if dataset:
            values["dataset"] = dataset
        if target:
            values["target"] = target
        training_spec = spec_from_mapping(values, origin=f"Training spec {spec}")
    elif environment:
        training_spec = spec_from_mapping(
            {"task": "reinforcement_learning", "dataset": dataset, **given}, origin="harvest train"
        )
    else:
        if from_model and dataset and not target:  # a fine-tune predicts what its parent did
            from training.finetune import parent_target

            catalog = Catalog.open(ctx.obj)
            target = parent_target(catalog, from_model)
        if not dataset or not target:
            raise InvalidInputError("Give --dataset and --target, or a --spec file.")
        training_spec = spec_from_mapping(
            {"dataset": dataset, "target": target, **given}, origin="harvest train"
        )
    catalog = catalog or Catalog.open(ctx.obj)
    echo = None if quiet or as_json else (lambda line: output.console.print(line, markup=False))
    if echo is None:
        result = train(
            training_spec, catalog, run_id=run_id, promote=not no_promote, workers=workers
        )
    else:
        with output.console.status(
            f"Training {training_spec.name} on {training_spec.dataset or training_spec.environment}"
        ):
            result = train(
                training_spec,
                catalog,
                run_id=run_id,
                echo=echo,
                promote=not no_promote,
                workers=workers,
            )
    summary = {
        "model": result.version.ref,
        "run_id": result.run_id,
        "task": result.task.value,
        "family": result.version.family,
        "metric": result.metric,
        "score": result.score,
        "baseline": result.baseline.get(result.metric),
        "test": result.test,
        "intervals": {k: list(v) for k, v in result.intervals.items()},
        "protocol": result.protocol,
        "gates": [g.to_json() for g in result.gates],
        "promoted": result.promoted,
        "path": str(result.version.path),
        **({"from": training_spec.from_model} if training_spec.from_model else {}),
    }
    if as_json:
        output.emit_json(summary)
        return
    low, high = result.intervals.get(result.metric, (result.score, result.score))
    output.console.print(
        f"{result.version.ref}: {result.version.family}, {result.metric} {result.score:.4f} "
        f"(95% interval {low:.4f} to {high:.4f}) {result.where()} "
        f"(baseline {summary['baseline']:.4f}); "
        + (f"promoted to {result.promoted}." if result.promoted else "not promoted."),
        markup=False,
    )


def tune_worker_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="The run id of a search started with --workers.")],
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the count.")] = False,
) -> None:
    """Join a running search's shared Optuna study and run its trials until it ends."""
    from training.train import tune_worker

    echo = None if quiet else (lambda line: output.console.print(line, markup=False))
    ran = tune_worker(Catalog.open(ctx.obj), run, echo=echo)
    output.console.print(f"Ran {ran} trial(s) of run {run}.")


def train_node_command(
    rendezvous: Annotated[
        str, typer.Option(help="host:port of the first machine, as its training spec says.")
    ],
    nodes: Annotated[int, typer.Option(min=2, help="Machines in the fit, this one included.")] = 2,
    processes: Annotated[int, typer.Option(min=1, help="Processes on this machine.")] = 1,
    wait: Annotated[
        int, typer.Option(min=1, help="Seconds to wait for the run to reach its fit.")
    ] = 3600,
) -> None:
    """Join, from this machine, the distributed fit of a training run on another one (its
    spec's ``nodes`` and ``rendezvous``); returns when the fit is done."""
    from training.distributed import Layout, join_fit

    layout = Layout(processes, nodes, rendezvous)
    output.console.print(f"Joining the fit at {rendezvous} with {processes} process(es)...")
    join_fit(layout, wait)
    output.console.print(f"Done: the fit at {rendezvous} finished.")


def _catalog(ctx: typer.Context) -> Catalog:
    workspace: Workspace = ctx.obj
    return Catalog.open(workspace)


@models_app.command("list")
def list_command(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List registered model versions with their scores and aliases."""
    from training.registry import Registry

    versions = Registry(_catalog(ctx)).versions(model)
    if as_json:
        output.emit_json(
            [
                {
                    "model": v.model,
                    "version": v.version,
                    "ref": v.ref,
                    "task": v.task,
                    "target": v.target,
                    "family": v.family,
                    "metric": v.metric,
                    "score": v.score,
                    "baseline": v.baseline,
                    "dataset": v.dataset,
                    "gates_passed": v.gates_passed,
                    "aliases": list(v.aliases),
                    "created_at": v.created_at,
                    "path": v.path,
                }
                for v in versions
            ]
        )
        return
    if not versions:
        output.console.print(
            "No models yet: `harvest train --dataset NAME --target COLUMN` trains one."
        )
        return
    output.table(
        [
            "model",
            "task",
            "family",
            "metric",
            "test",
            "baseline",
            "gates",
            "aliases",
            "dataset",
            "created",
        ],
        [
            (
                v.ref,
                v.task,
                v.family,
                v.metric,
                f"{v.score:.4f}",
                f"{v.baseline:.4f}",
                "passed" if v.gates_passed else "failed",
                ", ".join(v.aliases),
                v.dataset,
                v.created_at.strftime("%Y-%m-%d %H:%M"),
            )
            for v in versions
        ],
    )


@models_app.command("show")
def show_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="name, name@N or name@champion.")],
    as_json: JsonFlag = False,
) -> None:
    """Show a model version's card."""
    from training.registry import Registry

    registry = Registry(_catalog(ctx))
    version = registry.get(model)
    card = registry.card(version)
    registry.verify(version)  # a damaged or hostile artifact is refused here, not at predict time
    if as_json:
        output.emit_json({**card, "aliases": list(version.aliases), "path": str(version.path)})
        return
    output.console.print((version.path / "MODEL_CARD.md").read_text(encoding="utf-8"), markup=False)
    output.console.print(
        f"Aliases: {', '.join(version.aliases) or 'none'}; folder: {version.path}", markup=False
    )


@models_app.command("promote")
def promote_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The version to promote: name@N.")],
    as_json: JsonFlag = False,
) -> None:
    """Make a version the champion, if it beats the baseline and the current champion."""
    from training.train import promote

    verdict = promote(_catalog(ctx), model)
    if as_json:
        output.emit_json(
            {
                "model": verdict.version.ref,
                "promoted": verdict.promoted,
                "message": verdict.message,
                "gates": [g.to_json() for g in verdict.gates],
            }
        )
    else:
        for gate in verdict.gates:
            output.console.print(
                f"gate {gate.gate}: {'passed' if gate.passed else 'failed'} - {gate.detail}",
                markup=False,
            )
        (output.console.print if verdict.promoted else output.fail)(verdict.message)
    if not verdict.promoted:
        raise typer.Exit(1)


@models_app.command("rollback")
def rollback_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model name whose champion to roll back.")],
    as_json: JsonFlag = False,
) -> None:
    """Point the champion back at the previous champion (it passed its gates when promoted)."""
    from training.registry import Registry

    registry = Registry(_catalog(ctx))
    current = registry.alias(model, "champion")
    restored = registry.roll_back(model, by="cli")
    if as_json:
        output.emit_json({"model": model, "champion": restored, "previous": current})
    else:
        output.console.print(
            f"{model}@champion is now {model}@{restored} (was {model}@{current}).", markup=False
        )


@models_app.command("visibility")
def visibility_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The model's name.")],
    visibility: Annotated[
        str, typer.Argument(help="public, private, gated, or inherit (follow its dataset).")
    ],
) -> None:
    """Set who may see and call a model; by default it follows the dataset it was trained on."""
    from catalog.access import VISIBILITIES, Accounts
    from training.registry import Registry

    if visibility not in (*VISIBILITIES, "inherit"):
        raise InvalidInputError(
            f"'{visibility}' is not a model visibility: use one of "
            f"{', '.join(VISIBILITIES)} or inherit."
        )
    catalog = _catalog(ctx)
    name = Registry(catalog).get(model).model
    Accounts(catalog).set_model_visibility(name, None if visibility == "inherit" else visibility)
    output.console.print(
        f"{name}: "
        + ("follows its dataset's visibility." if visibility == "inherit" else f"{visibility}."),
        markup=False,
    )


@models_app.command("runs")
def runs_command(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List training runs and their progress."""
    from training.runs import list_runs

    runs = list_runs(ctx.obj)
    if as_json:
        output.emit_json(
            [
                {
                    "run_id": r.run_id,
                    "model": r.model,
                    "status": r.status,
                    "stage": r.stage,
                    "started_at": r.started_at,
                    "trials": len(r.trials),
                    "best": r.best,
                    "result": r.result,
                    "message": r.message,
                }
                for r in runs
            ]
        )
        return
    output.table(
        ["run", "model", "status", "stage", "trials", "started", "message"],
        [
            (r.run_id, r.model, r.status, r.stage, len(r.trials), r.started_at[:19], r.message)
            for r in runs
        ],
    )


@models_app.command("serve")
def serve_command(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Argument(help="name (follows its champion), name@N or name@champion.")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")
    ] = 5001,
) -> None:
    """Serve a model over HTTP with MLflow's scoring protocol (/invocations, /ping); Ctrl-C stops it."""
    from catalog.access import Accounts
    from server.app import check_binding
    from server.scoring import bind, create_app, make_server
    from training.serving import ServedModel

    with _catalog(ctx) as catalog:
        accounts = Accounts(catalog)
        check_binding(host, accounts.has_users())
        served = ServedModel(catalog, model)
        sock = bind(host, port)
        where = sock.getsockname()
        output.console.print(
            f"Serving {served.ref} on http://{where[0]}:{where[1]}/invocations "
            f"({'fixed version' if served.pinned else 'follows its alias'}); Ctrl-C stops it.",
            markup=False,
        )
        output.console.file.flush()
        make_server(create_app(served, accounts=accounts)).run(sockets=[sock])
    output.console.print("Scoring server stopped.", markup=False)


def _warn_drift(sentence: str | None) -> None:
    """The batch's drift from the training data, as one warning line on stderr."""
    if sentence:
        output.errors.print(f"warning: {sentence}", markup=False)


def predict_command(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="name (its champion), name@N or name@champion.")],
    input_file: Annotated[
        Path | None, typer.Option("--input", help="CSV, TSV, Parquet, JSON or JSON Lines file.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset to predict: name or name@N.")] = None,
    output_file: Annotated[
        Path | None, typer.Option("--output", help="Where to write the predictions.")
    ] = None,
    record: Annotated[str | None, typer.Option(help="One record as a JSON object.")] = None,
) -> None:
    """Predict with a registered model: a file, a dataset (committed as predictions.<model>) or one record."""
    from training.predict import (
        drift_warning,
        load_model,
        predict_dataset,
        predict_file,
        predict_record,
    )

    if sum(x is not None for x in (input_file, dataset, record)) != 1:
        raise InvalidInputError(
            "Give exactly one of --input FILE, --dataset NAME or --record JSON."
        )
    catalog = _catalog(ctx)
    if record is not None:
        try:
            values = json.loads(record)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"--record is not valid JSON: {error.msg}.") from error
        output.emit_json(predict_record(catalog, model, values))
        return
    if dataset is not None:
        input_ref = catalog.version(dataset).ref  # before predictions.<model> may shadow it
        result = predict_dataset(catalog, model, input_ref)
        output.console.print(
            f"{'Committed' if result.created else 'Unchanged:'} {result.version.ref}: {result.version.rows} predictions.",
            markup=False,
        )
        _warn_drift(drift_warning(catalog, load_model(catalog, model), input_ref, input_ref))
        return
    assert input_file is not None
    frame = predict_file(catalog, model, input_file, output_file)
    ignored = frame.attrs.get("ignored_columns")
    if ignored:
        output.errors.print(
            f"warning: ignored the column{'s' if len(ignored) > 1 else ''} {', '.join(ignored)}, "
            f"which {model} does not use as input.",
            markup=False,
        )
    _warn_drift(frame.attrs.get("drift_warning"))
    if output_file is not None:
        output.console.print(f"Wrote {len(frame)} predictions to {output_file}.", markup=False)
    else:
        frame.to_csv(sys.stdout, index=False)
