"""The model registry: immutable version folders plus catalog entries, and the champion/challenger aliases.

A model version is ``HARVEST_HOME/models/<model>/<version>/`` holding the artifact, its
``card.json``, a readable ``MODEL_CARD.md``, the leaderboard and the plots. Artifacts use
safe formats only: a scikit-learn pipeline is ``model.skops``; a PyTorch model is its
feature pipeline ``features.skops`` plus ``model.pt`` (a ``state_dict``, loaded with
``weights_only=True``) and ``model.json`` (class, parameters, fitted attributes). skops
loads only the exact types Harvest's families produce (:mod:`training.artifacts`), and a
loaded model must be the family its card names; anything else is refused with a sentence.

A version is written to a staging folder first and renamed into place, so a killed run
never leaves a half-written version; the folder's files are made read-only. When the
workspace's data path is on S3 the folder is also put in its file store
(:mod:`core.objects`, content-addressed) before the version is committed, and a machine
that lacks the folder fetches it from there the first time it reads the version. Its catalog
entry (table ``harvest.model_versions``), the aliases (``harvest.model_aliases``) and
every gate verdict and promotion (``harvest.model_events``) live in the lake, written
with :meth:`catalog.Catalog.transaction`.

The champion's history is read back from those events (:func:`champion_history`): each
promotion stacks a champion, each roll-back (:meth:`Registry.roll_back`) takes the top one
off, so rolling back twice goes two champions back, never forth again.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from catalog import Catalog
from catalog.commits import watch_commits
from catalog.engine import LAKE
from core.copies import after_fetch
from core.errors import InvalidInputError, NotFoundError
from core.objects import file_store, get_folder, put_folder
from training.artifacts import load_skops
from training.spec import _NAME

if TYPE_CHECKING:  # scikit-learn is imported where a model is saved or loaded, not to list them
    from sklearn.pipeline import Pipeline

META = f"{LAKE}.harvest"
ALIASES = ("champion", "challenger")
STAGING_PREFIX = ".staging-"
ROLL_BACK = "roll-back"  # the ``by`` of a champion event written by a roll-back

_TABLES = {  # the registry's tables in the catalog's ``harvest`` schema, by name
    "model_versions": """model VARCHAR, version INTEGER, task VARCHAR, target VARCHAR,
        family VARCHAR, metric VARCHAR, score DOUBLE, baseline DOUBLE, dataset VARCHAR,
        content_hash VARCHAR, gates_passed BOOLEAN, run_id VARCHAR, path VARCHAR,
        created_at TIMESTAMPTZ""",
    "model_aliases": "model VARCHAR, alias VARCHAR, version INTEGER, set_at TIMESTAMPTZ",
    "model_events": """model VARCHAR, version INTEGER, event VARCHAR, detail VARCHAR,
        happened_at TIMESTAMPTZ""",
    # Numbers taken by registrations (see ``Registry._claim``); the row of model '' is the
    # sentinel every claim deletes and writes again.
    "model_claims": "model VARCHAR, version INTEGER, claimed_by VARCHAR, claimed_at TIMESTAMPTZ",
}
_SENTINEL = ""  # no model has this name (check_model_name refuses it)


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version, as listed in the catalog."""

    model: str
    version: int
    task: str
    target: str
    family: str
    metric: str
    score: float
    baseline: float
    dataset: str  # the exact dataset version trained on, name@N
    content_hash: str
    gates_passed: bool
    run_id: str
    path: Path
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class Registration:
    """What :meth:`Registry.register` records besides the folder."""

    task: str
    target: str
    family: str
    metric: str
    score: float
    baseline: float
    dataset: str
    content_hash: str
    gates_passed: bool
    run_id: str


@dataclass(frozen=True)
class Event:
    """A promotion, an alias change or a gate verdict."""

    model: str
    version: int
    event: str
    detail: str
    at: datetime


def is_roll_back(event: Event) -> bool:
    """Whether a champion event was written by a roll-back (older ones said "dashboard roll-back")."""
    try:
        detail = json.loads(event.detail)
    except (TypeError, ValueError):
        return False
    return isinstance(detail, dict) and str(detail.get("by", "")).endswith(ROLL_BACK)


def champion_history(events: Sequence[Event]) -> list[int]:
    """The champions in force, oldest first, as the promotions and roll-backs in ``events`` left them."""
    stack: list[int] = []
    for event in events:
        if event.event != "champion":
            continue
        if is_roll_back(event) and stack:
            stack.pop()
        if not stack or stack[-1] != event.version:
            stack.append(event.version)
    return stack


def check_model_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(
            f"{name!r} cannot name a model: use lower-case letters, digits, '-', '_' or '.'."
        )
    return name


def parse_model_ref(text: str) -> tuple[str, str | None]:
    """``name``, ``name@3`` or ``name@champion`` -> (name, version or alias or None)."""
    name, _, which = text.strip().partition("@")
    check_model_name(name)
    return name, (which or None)


def save_pipeline(pipeline: Pipeline, folder: Path) -> list[str]:
    """Write ``pipeline`` into ``folder`` in a safe format; returns the file names."""
    import skops.io as sio

    from training.families.nets.torch_base import TorchEstimator, torch_config

    model = pipeline[-1]
    if isinstance(model, TorchEstimator):
        import torch

        sio.dump(pipeline[:-1], folder / "features.skops")
        state = {k: v.detach().cpu() for k, v in model.module_.state_dict().items()}
        torch.save(state, folder / "model.pt")
        (folder / "model.json").write_text(
            json.dumps(torch_config(model), indent=2), encoding="utf-8"
        )
        return ["features.skops", "model.pt", "model.json"]
    sio.dump(pipeline, folder / "model.skops")
    return ["model.skops"]


def _pipeline(loaded: object, file: Path) -> Pipeline:
    from sklearn.pipeline import Pipeline

    if not isinstance(loaded, Pipeline):
        raise InvalidInputError(
            f"Model file {file} holds a {type(loaded).__name__}, not a model pipeline; it was not loaded."
        )
    return loaded


def _load_torch(folder: Path) -> Pipeline:
    """The feature pipeline plus the PyTorch estimator rebuilt from its config and ``state_dict``."""
    import torch

    from training.families.nets.torch_base import load_torch

    features = _pipeline(load_skops(folder / "features.skops"), folder / "features.skops")
    try:
        config = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        estimator = load_torch(config, state)
    except FileNotFoundError as error:
        raise InvalidInputError(
            f"Model folder {folder} lacks {Path(str(error.filename)).name}; it was not loaded."
        ) from error
    except Exception as error:  # a hostile or damaged file fails in many ways, all refused
        raise InvalidInputError(
            f"Model folder {folder} holds a PyTorch model that could not be read "
            f"({type(error).__name__}); it was not loaded."
        ) from error
    from sklearn.pipeline import Pipeline

    return Pipeline([*features.steps, ("model", estimator)])


def load_pipeline(folder: Path) -> Pipeline:
    """The fitted pipeline saved in ``folder`` by :func:`save_pipeline`.

    Files are checked before anything in them runs (:mod:`training.artifacts`); one that is
    damaged, hostile or not a model is refused with one sentence.
    """
    if (folder / "model.skops").exists():
        return _pipeline(load_skops(folder / "model.skops"), folder / "model.skops")
    if (folder / "model.json").exists():
        return _load_torch(folder)
    raise NotFoundError(f"No model artifact in {folder}; the version folder is incomplete.")


def check_against_card(pipeline: Pipeline, version: ModelVersion, card: dict[str, Any]) -> None:
    """Refuse a loaded model that is not what its card and catalog entry say it is."""
    from training.families import family

    model = pipeline[-1]
    name = f"{type(model).__module__}.{type(model).__qualname__}"
    if card.get("family") != version.family or name not in family(version.family).estimators:
        raise InvalidInputError(
            f"Model {version.ref} is registered as a {version.family} model but its artifact "
            f"holds a {type(model).__name__} (card family {card.get('family')!r}); it was not loaded."
        )


def _freeze(folder: Path) -> None:
    """Make every file in ``folder`` read-only: versions are immutable."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _row_to_version(
    row: Sequence[Any], aliases: dict[tuple[str, int], list[str]], root: Path
) -> ModelVersion:
    return ModelVersion(
        model=row[0],
        version=int(row[1]),
        task=row[2],
        target=row[3],
        family=row[4],
        metric=row[5],
        score=float(row[6]),
        baseline=float(row[7]),
        dataset=row[8],
        content_hash=row[9],
        gates_passed=bool(row[10]),
        run_id=row[11],
        path=root / row[0] / str(row[1]),  # this machine's copy (the row names the writer's)
        created_at=row[13],
        aliases=tuple(sorted(aliases.get((row[0], int(row[1])), []))),
    )


class Registry:
    """Model versions of one workspace: folders under ``models/`` and rows in the catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.root = catalog.workspace.models
        self.files = file_store(catalog.workspace)
        self._commits = watch_commits(catalog.workspace, catalog.cursor)
        self._all: list[ModelVersion] = []
        self._pointed: dict[tuple[str, str], int] = {}  # (model, alias) -> version
        self._read_at: int | None = None
        present = catalog.cursor().execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
            [LAKE, "harvest"],
        )
        if set(_TABLES) - {row[0] for row in present.fetchall()}:  # a commit the first time only
            catalog.transaction(self._create_tables, what="prepare the model registry")

    @staticmethod
    def _create_tables(cur: duckdb.DuckDBPyConnection) -> None:
        for name, columns in _TABLES.items():
            cur.execute(f"CREATE TABLE IF NOT EXISTS {META}.{name} ({columns})")
        claims = cur.execute(f"SELECT count(*) FROM {META}.model_claims").fetchone()
        if claims is not None and claims[0] == 0:
            cur.execute(
                f"INSERT INTO {META}.model_claims VALUES (?, 0, 'registry', now())", [_SENTINEL]
            )

    # -- writing ---------------------------------------------------------------------

    def staging(self, model: str) -> Path:
        """A fresh staging folder for a version of ``model`` (renamed into place on register).

        Staging folders left by runs whose process is gone are removed first.
        """
        from training.runs import process_alive

        parent = self.root / check_model_name(model)
        parent.mkdir(parents=True, exist_ok=True)
        for old in parent.glob(f"{STAGING_PREFIX}*"):
            pid = old.name[len(STAGING_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not process_alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        folder = parent / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
        folder.mkdir()
        return folder

    def _claim(self, model: str) -> int:
        """Take the next version number of ``model``, unique across every machine.

        DuckLake lets two transactions that only insert into a table both land, so two
        machines registering at the same moment could take the same number. A claim deletes
        and writes again the claims table's sentinel row, which makes any two claims at once
        conflict (DuckLake checks deletes per table); the loser's retry sees the winner's
        number. A claim whose registration fails leaves a gap, never a second version N.
        """
        claimed_by = f"{socket.gethostname()}:{os.getpid()}"
        on_disk = [int(p.name) for p in (self.root / model).iterdir() if p.name.isdigit()]

        def claim(cur: duckdb.DuckDBPyConnection) -> int:
            row = cur.execute(
                f"SELECT greatest((SELECT max(version) FROM {META}.model_versions WHERE model = ?),"
                f" (SELECT max(version) FROM {META}.model_claims WHERE model = ?))",
                [model, model],
            ).fetchone()
            number = max([int(row[0]) if row and row[0] is not None else 0, *on_disk]) + 1
            cur.execute(f"DELETE FROM {META}.model_claims WHERE model = ?", [_SENTINEL])
            cur.execute(
                f"INSERT INTO {META}.model_claims VALUES (?, 0, ?, now()), (?, ?, ?, now())",
                [_SENTINEL, claimed_by, model, number, claimed_by],
            )
            return number

        return self.catalog.transaction(claim, what=f"number a version of model {model}")

    def register(
        self,
        model: str,
        staging: Path,
        entry: Registration,
        finish: Callable[[int, Path], None] | None = None,
        *,
        gates: object = None,
        alias: str | None = None,
        parent: str | None = None,
    ) -> ModelVersion:
        """Move ``staging`` into place as the next version of ``model`` and record it.

        ``finish(number, folder)`` writes what needs the version number (the card) before
        the folder is frozen and the catalog entry is committed. The gate verdicts
        (``gates``, JSON-able) and the alias the version earned are recorded in the same
        transaction as the version; a new champion ends the model's challenger. A version
        fine-tuned from another records that ``parent`` (``model@N``) as a ``parent`` event.
        """
        while True:
            number = self._claim(model)
            target = self.root / model / str(number)
            try:
                target.mkdir()
            except FileExistsError:  # a folder left on this machine by a failed registration
                continue
            os.replace(staging, target)  # onto the empty folder just claimed
            break
        try:
            if finish is not None:
                finish(number, target)
        except BaseException:
            _unfreeze_and_remove(target)
            raise
        _freeze(target)
        try:
            put_folder(self.files, target, _key(model, number))
        except BaseException:
            _unfreeze_and_remove(target)
            raise
        created_at = datetime.now(UTC)

        def insert(cur: duckdb.DuckDBPyConnection) -> None:
            cur.execute(
                f"INSERT INTO {META}.model_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    model,
                    number,
                    entry.task,
                    entry.target,
                    entry.family,
                    entry.metric,
                    entry.score,
                    entry.baseline,
                    entry.dataset,
                    entry.content_hash,
                    entry.gates_passed,
                    entry.run_id,
                    str(target),
                    created_at,
                ],
            )
            self._event(cur, model, number, "registered", {"run_id": entry.run_id})
            if gates is not None:
                self._event(cur, model, number, "gates", gates)
            if parent is not None:
                self._event(cur, model, number, "parent", {"parent": parent})
            if alias is not None:
                detail = {"run_id": entry.run_id, "by": "train"}
                self._write_alias(cur, model, alias, number, detail)
                if alias == "champion":
                    self._delete_alias(cur, model, "challenger")

        try:
            self.catalog.transaction(insert, what=f"register model {model}@{number}")
        except BaseException:
            _unfreeze_and_remove(target)
            raise
        return self.get(f"{model}@{number}")

    @staticmethod
    def _event(
        cur: duckdb.DuckDBPyConnection, model: str, version: int, event: str, detail: object
    ) -> None:
        cur.execute(
            f"INSERT INTO {META}.model_events VALUES (?, ?, ?, ?, ?)",
            [model, version, event, json.dumps(detail), datetime.now(UTC)],
        )

    @classmethod
    def _write_alias(
        cls, cur: duckdb.DuckDBPyConnection, model: str, alias: str, version: int, detail: object
    ) -> None:
        if alias not in ALIASES:
            raise InvalidInputError(f"{alias!r} is not an alias; use one of {', '.join(ALIASES)}.")
        cls._delete_alias(cur, model, alias)
        cur.execute(
            f"INSERT INTO {META}.model_aliases VALUES (?, ?, ?, ?)",
            [model, alias, version, datetime.now(UTC)],
        )
        cls._event(cur, model, version, alias, detail)

    @staticmethod
    def _delete_alias(cur: duckdb.DuckDBPyConnection, model: str, alias: str) -> None:
        cur.execute(
            f"DELETE FROM {META}.model_aliases WHERE model = ? AND alias = ?", [model, alias]
        )

    def set_alias(self, model: str, alias: str, version: int, detail: object) -> None:
        """Point ``alias`` of ``model`` at ``version`` and record why."""
        self.catalog.transaction(
            lambda cur: self._write_alias(cur, model, alias, version, detail),
            what=f"set {model}@{alias}",
        )

    def clear_alias(self, model: str, alias: str) -> None:
        self.catalog.transaction(
            lambda cur: self._delete_alias(cur, model, alias), what=f"clear {model}@{alias}"
        )

    def record(self, model: str, version: int, event: str, detail: object) -> None:
        """Record an event (a gate verdict, a refused promotion) without changing aliases."""
        self.catalog.transaction(
            lambda cur: self._event(cur, model, version, event, detail), what=f"record {event}"
        )

    # -- reading ---------------------------------------------------------------------

    def _aliases(self) -> dict[tuple[str, int], list[str]]:
        rows = (
            self.catalog.cursor()
            .execute(f"SELECT model, alias, version FROM {META}.model_aliases")
            .fetchall()
        )
        out: dict[tuple[str, int], list[str]] = {}
        for model, alias, version in rows:
            out.setdefault((model, int(version)), []).append(alias)
        return out

    def versions(self, model: str | None = None) -> list[ModelVersion]:
        """Every registered version (of one model if given), oldest first.

        Read again only after something was committed to the catalog (on a SQLite catalog; on
        another, every call reads), so a server resolving ``name@champion`` per request does
        not query the catalog per request.
        """
        mark = self._commits.mark() if self._commits is not None else None
        if mark is None or self._read_at != mark:
            rows = (
                self.catalog.cursor()
                .execute(f"SELECT * FROM {META}.model_versions ORDER BY model, version")
                .fetchall()
            )
            aliases = self._aliases()
            self._all = [_row_to_version(row, aliases, self.root) for row in rows]
            self._pointed = {(m, a): v for (m, v), names in aliases.items() for a in names}
            self._read_at = mark
        return [v for v in self._all if model is None or v.model == model]

    def models(self) -> list[str]:
        return sorted({v.model for v in self.versions()})

    def alias(self, model: str, alias: str) -> int | None:
        """The version ``alias`` points at (which may be one that is gone), or None."""
        self.versions(model)  # read again if anything was committed
        return self._pointed.get((model, alias))

    def get(self, ref: str) -> ModelVersion:
        """``name@N``, ``name@champion``/``@challenger``, or ``name`` (its champion, else its latest)."""
        model, which = parse_model_ref(ref)
        versions = self.versions(model)
        if not versions:
            raise NotFoundError(f"There is no model {model!r}; `harvest models list` shows them.")
        if which is None:
            number = self.alias(model, "champion") or versions[-1].version
        elif which in ALIASES:
            found = self.alias(model, which)
            if found is None:
                raise NotFoundError(f"Model {model!r} has no {which} yet.")
            number = found
        elif which.isdigit():
            number = int(which)
        else:
            raise InvalidInputError(
                f"'{ref}' is not a model version: write name, name@N or name@champion."
            )
        for version in versions:
            if version.version == number:
                return self.fetched(version)
        raise NotFoundError(
            f"Model {model!r} has no version {number}; it has versions "
            f"{', '.join(str(v.version) for v in versions)}."
        )

    def events(self, model: str) -> list[Event]:
        rows = (
            self.catalog.cursor()
            .execute(
                f"SELECT model, version, event, detail, happened_at FROM {META}.model_events WHERE model = ? ORDER BY happened_at",
                [model],
            )
            .fetchall()
        )
        return [Event(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]

    def parent(self, version: ModelVersion) -> str | None:
        """The version ``version`` was fine-tuned from (``model@N``), or None."""
        row = (
            self.catalog.cursor()
            .execute(
                f"SELECT detail FROM {META}.model_events WHERE model = ? AND version = ? "
                "AND event = 'parent'",
                [version.model, version.version],
            )
            .fetchone()
        )
        return str(json.loads(row[0])["parent"]) if row else None

    def previous_champion(self, model: str) -> int | None:
        """The champion before the current one, which :meth:`roll_back` would restore."""
        history = champion_history(self.events(model))
        current = self.alias(model, "champion")
        while history and history[-1] == current:
            history.pop()
        return history[-1] if history else None

    def roll_back(self, model: str, by: str = "") -> int:
        """Point ``model@champion`` back at the previous champion (no gates: it was one); returns it."""
        self.get(model)  # an unknown model is named as such
        current = self.alias(model, "champion")
        previous = self.previous_champion(model)
        if previous is None:
            raise InvalidInputError(f"{model} has had no earlier champion to roll back to.")
        detail = {"by": ROLL_BACK, "from": current, **({"requested_by": by} if by else {})}
        self.set_alias(model, "champion", previous, detail)
        return previous

    def fetched(self, version: ModelVersion) -> ModelVersion:
        """``version``, its folder fetched from the file store first if this machine lacks it
        (then this machine's copies are pruned to ``HARVEST_CACHE_KEEP``, when set)."""
        fetching = not version.path.is_dir()
        get_folder(self.files, _key(version.model, version.version), version.path)
        if fetching:
            after_fetch(self.catalog.workspace, self.files)
        return version

    def card(self, version: ModelVersion) -> dict[str, Any]:
        """The version's ``card.json``; a missing or unreadable card is one sentence."""
        file = self.fetched(version).path / "card.json"
        try:
            card = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
            raise InvalidInputError(
                f"Model {version.ref} has no readable card ({file}); the version folder is damaged."
            ) from error
        if not isinstance(card, dict):
            raise InvalidInputError(f"Model {version.ref}'s card {file} is not a JSON object.")
        return card

    def load(self, version: ModelVersion) -> Pipeline:
        """The fitted pipeline of ``version``, checked against its card."""
        card = self.card(version)
        pipeline = load_pipeline(version.path)
        check_against_card(pipeline, version, card)
        return pipeline

    def verify(self, version: ModelVersion) -> None:
        """Load ``version`` to prove its artifact is safe and what its card says (or one sentence)."""
        if version.task == "reinforcement_learning":  # a policy network, not a pipeline
            from training.reinforcement import load_policy

            load_policy(version.path)
            return
        self.load(version)


def _key(model: str, version: int) -> str:
    """The version's key in the workspace's file store."""
    return f"models/{model}/{version}"


def _unfreeze_and_remove(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    shutil.rmtree(folder, ignore_errors=True)


def remove_staging(folder: Path) -> None:
    """Delete a staging folder left by a failed run."""
    if folder.name.startswith(STAGING_PREFIX):
        shutil.rmtree(folder, ignore_errors=True)
