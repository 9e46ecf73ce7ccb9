"""What a saved model may contain, and the checks that refuse anything else before it is loaded.

A skops file is a zip whose ``schema.json`` describes every object as a node: the loader
that rebuilds it (``ObjectNode``, ``NdArrayNode``, ``FunctionNode``...) and its type
(``module.Class``). :func:`load_skops` reads that schema first and loads the file only if
every node is one of :func:`trusted_nodes`: the exact (loader, type) pairs of the feature
pipelines ``training/features.py`` builds (:data:`FEATURE_NODES`) and of the models the
families declare (``Family.saved_nodes``). Both were derived by saving a model of every
family, and ``tests/training/test_artifacts.py`` saves them again and fails when a pair is
missing or no longer produced, so the list cannot go stale. Nothing is trusted by module
prefix: ``numpy.full_like``, ``builtins.eval`` or a method of a trusted object are not
Harvest's, so a file naming them is refused unread.

No family saves a function, so no ``FunctionNode`` is trusted and no ``FunctionTransformer``
loads. A family that needs one adds its own function (defined in a ``training`` module) to
its ``saved_nodes`` as ``("FunctionNode", "training.<module>.<name>")``;
:func:`check_callables` then checks the loaded objects themselves: every function, method
or partial found inside is one of the trusted pairs and defined by Harvest, whatever the
schema said.
"""

from __future__ import annotations

import functools
import inspect
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import InvalidInputError

_INTEGERS = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_SKLEARN_FEATURES = (
    "pipeline.Pipeline",
    "compose._column_transformer.ColumnTransformer",
    "impute._base.SimpleImputer",
    "preprocessing._data.StandardScaler",
    "preprocessing._encoders.OneHotEncoder",
    "feature_extraction.text.TfidfVectorizer",
    "feature_extraction.text.TfidfTransformer",
)
_HARVEST_FEATURES = ("Stringify", "TextJoiner", "DateExpander", "ImageLoader")

FEATURE_NODES: frozenset[tuple[str, str]] = frozenset(
    {
        # containers and plain values
        ("DictNode", "builtins.dict"),
        ("ListNode", "builtins.list"),
        ("TupleNode", "builtins.tuple"),
        ("SliceNode", "builtins.slice"),
        ("JsonNode", "builtins.str"),  # every JSON value: numbers, booleans, None, text
        ("TypeNode", "builtins.str"),  # dtype=str
        # NumPy arrays of numbers or text, and the dtypes they name
        ("DTypeNode", "numpy.dtype"),
        ("NdArrayNode", "numpy.ndarray"),  # object arrays
        *(
            ("NdArrayNode", f"numpy.{name}")
            for name in (*_INTEGERS, "float16", "float32", "float64", "str_")
        ),
        ("TypeNode", "numpy.float64"),  # TfidfVectorizer's dtype
        ("TypeNode", "numpy.float32"),
        # the feature pipeline: scikit-learn's transformers and Harvest's own
        *(("ObjectNode", f"sklearn.{name}") for name in _SKLEARN_FEATURES),
        *(("ObjectNode", f"training.features.{name}") for name in _HARVEST_FEATURES),
    }
)


@functools.cache
def trusted_nodes() -> frozenset[tuple[str, str]]:
    """Every (loader, type) pair a saved model may contain: its features' and its family's."""
    from training.families import all_families

    return FEATURE_NODES.union(*(f.saved_nodes for f in all_families()))


_ROUTINE_LOADERS = ("FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode")


def _nodes(schema: object) -> Iterator[tuple[str, str]]:
    """Every (loader, type) pair in a skops schema, without recursion (the file may be hostile)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node or "__loader__" in node:
                module, name = node.get("__module__"), node.get("__class__")
                yield str(node.get("__loader__")), f"{module}.{name}"
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def skops_nodes(file: Path) -> set[tuple[str, str]]:
    """The (loader, type) pairs a skops file would build, read from its schema only."""
    with zipfile.ZipFile(file) as archive:
        schema = json.loads(archive.read("schema.json"))
    return set(_nodes(schema))


def _refuse(file: Path, why: str) -> InvalidInputError:
    return InvalidInputError(f"Model file {file} {why}; it was not loaded.")


def load_skops(file: Path) -> Any:
    """The object in the skops ``file``, if every node in it is trusted; else one sentence."""
    import skops.io as sio

    if not file.is_file():
        raise _refuse(file, "is missing")
    try:
        nodes = skops_nodes(file)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, RecursionError) as error:
        raise _refuse(file, "is not a skops file") from error
    refused = sorted(nodes - trusted_nodes(), key=lambda pair: pair[1])
    if refused:
        loader, name = refused[0]
        what = "a function" if loader in _ROUTINE_LOADERS else "a type"
        raise _refuse(file, f"contains {what} Harvest does not trust ({name})")
    try:
        loaded = sio.load(file, trusted=sorted({name for _, name in nodes}))
    except Exception as error:  # a hostile or damaged file fails in many ways, all refused
        raise _refuse(file, f"could not be read ({type(error).__name__})") from error
    check_callables(loaded, file)
    return loaded


def _trusted_routine(value: object) -> bool:
    name = f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
    return name.startswith("training.") and ("FunctionNode", name) in trusted_nodes()


def _children(value: object) -> list[object]:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return list(vars(value).values())
    return []


def check_callables(loaded: object, file: Path) -> None:
    """Refuse ``loaded`` if any function, method or partial inside it is not one Harvest trusts.

    Checks the objects themselves, so a function that reached the model by any route (a
    ``FunctionTransformer``, a vectoriser's ``analyzer``, a column selector) is caught.
    """
    seen: set[int] = set()
    stack = [loaded]
    while stack:
        value = stack.pop()
        if id(value) in seen or isinstance(value, str | bytes | int | float | bool | type(None)):
            continue
        seen.add(id(value))
        if isinstance(value, functools.partial) or (
            inspect.isroutine(value) and not _trusted_routine(value)
        ):
            name = getattr(value, "__qualname__", type(value).__name__)
            raise _refuse(file, f"contains a function Harvest does not trust ({name})")
        if getattr(getattr(value, "dtype", None), "hasobject", True) is False:
            continue  # an array of numbers holds nothing callable
        stack.extend(_children(value))
