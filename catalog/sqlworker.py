"""The SQL sandbox's worker process: runs untrusted SQL where a crash, a hang or a runaway
result costs one replaceable process and nothing else.

Started by :mod:`catalog.sandbox` as ``python -I <this file> FD ADDRESS_SPACE_BYTES``. It
imports only the standard library, DuckDB and pyarrow; it never sees the catalog database,
loads no extension, and writes no file (``RLIMIT_FSIZE`` is 0: a write is a fatal signal).

Requests arrive as JSON frames on the socket; answers are JSON frames, and a query's rows
are Arrow IPC frames (a schema, then record batches) before its closing JSON frame:

- ``{"op": "inspect", "sql": ...}``: parse the statement with DuckDB's own parser and
  answer what it reads (``tables``, ``everything``) or why it is refused (``refused``).
- ``{"op": "load", "views": [[schema, name, select], ...], "files": [...], ...}``: a new
  in-memory database whose views are exactly these, that may read exactly ``files``, with
  its configuration locked. The previous database is dropped.
- ``{"op": "run", "sql": ..., "seconds": ..., "max_rows": ..., "max_bytes": ...}``: the
  rows, streamed.

Each frame is its length (8 bytes, big-endian), a tag byte (``j`` JSON, ``s`` an Arrow
schema, ``b`` an Arrow record batch) and the payload.
"""

from __future__ import annotations

import json
import re
import resource
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow  # noqa: F401  (imported at start: the first query does not wait for it)

HEADER = struct.Struct(">QB")
_BATCH_ROWS = 1_024  # rows per streamed batch: few enough that wide rows stay within memory
JSON, SCHEMA, BATCH = b"j", b"s", b"b"

# Table functions a query may call: they compute, or describe the views that are there.
# Everything else (file readers, DuckLake's and the scanners' functions, ``query`` with its
# computed SQL) is refused before anything runs.
TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "repeat",
        "repeat_row",
        "unnest",
        "query_table",
        "json_each",
        "json_tree",
        "duckdb_columns",
        "duckdb_tables",
        "duckdb_views",
        "duckdb_schemas",
        "duckdb_functions",
        "duckdb_types",
        "duckdb_keywords",
        "duckdb_constraints",
    }
)
# Calls and schemas that list the datasets: a query using one gets every dataset's view.
_LISTING_FUNCTIONS = frozenset(
    {"query_table", "duckdb_columns", "duckdb_tables", "duckdb_views", "duckdb_schemas"}
)
_LISTING_SCHEMAS = frozenset({"information_schema", "pg_catalog"})
_FILE_READERS = re.compile(r"^(read_|sqlite_|parquet_|glob$|iceberg|delta_|ducklake_|postgres_)")
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+", re.IGNORECASE)
_ANALYZE = re.compile(r"^\s*ANALY[SZ]E\b", re.IGNORECASE)


def send_json(connection: socket.socket, value: dict[str, Any]) -> None:
    """One JSON frame, at once (the trusted side's requests)."""
    outbox = Outbox(connection)
    outbox.put_json(value)
    outbox.flush()


class Outbox:
    """Frames on their way out, written together: a small answer (schema, a batch, the closing
    JSON) costs one write rather than one per frame; past :data:`FLUSH_BYTES` it is written."""

    FLUSH_BYTES = 1 << 20

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._parts: list[bytes | memoryview] = []
        self._size = 0

    def put(self, tag: bytes, payload: bytes | memoryview) -> None:
        self._parts += [HEADER.pack(len(payload), tag[0]), payload]
        self._size += len(payload)
        if self._size >= self.FLUSH_BYTES:
            self.flush()

    def put_json(self, value: dict[str, Any]) -> None:
        self.put(JSON, json.dumps(value).encode())

    def flush(self) -> None:
        if self._parts:
            self._connection.sendall(b"".join(self._parts))
            self._parts, self._size = [], 0


def receive(stream: Any) -> tuple[bytes, bytes] | None:
    """The next frame's tag and payload from a blocking binary stream; None at its end."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    length, tag = HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    return bytes([tag]), payload


# ----------------------------------------------------------------------------- inspection


def inspect(parser: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    """What ``sql`` reads, or why it may not run; decided from DuckDB's parse tree."""
    try:
        statements = parser.extract_statements(sql)
    except duckdb.Error as error:
        return {"refused": f"The query is not valid SQL: {_first_line(error)}"}
    if not statements:
        return {"refused": "The query is empty: write a SELECT statement."}
    kinds = [statement.type for statement in statements]
    wrong = next((kind for kind in kinds if kind != duckdb.StatementType.SELECT), None)
    if wrong == duckdb.StatementType.EXPLAIN and len(statements) == 1:
        return _inspect_explain(parser, sql)
    if wrong is not None:
        name = wrong.name.replace("_", " ")
        return {
            "refused": f"{name} statements are not allowed here: the SQL console is read-only, "
            "so write a SELECT."
        }
    if len(statements) > 1:
        return {"refused": "Run one statement at a time."}
    return _inspect_select(parser, statements[0].query)  # a PRAGMA as the SELECT it stands for


def _inspect_explain(parser: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    """``EXPLAIN <a SELECT>`` only: ``EXPLAIN ANALYZE`` runs what it explains."""
    inner = _EXPLAIN.sub("", sql, count=1)
    if inner == sql or _ANALYZE.match(inner):
        return {
            "refused": "EXPLAIN ANALYZE runs the statement it explains and is not allowed here; "
            "use EXPLAIN with a SELECT."
        }
    found = inspect(parser, inner)
    if "refused" in found:
        return {"refused": "EXPLAIN is allowed only for a SELECT: " + found["refused"]}
    return {**found, "sql": "EXPLAIN " + found["sql"]}


def _inspect_select(parser: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    row = parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        return {
            "refused": "Only SELECT queries (with WITH, UNION, VALUES, DESCRIBE, SUMMARIZE "
            "or SHOW) run here: the SQL console is read-only."
        }
    tables: set[tuple[str, str]] = set()
    everything = False
    for node in _nodes(tree["statements"]):
        kind = node.get("type")
        if kind == "BASE_TABLE":
            schema = str(node.get("schema_name") or "")
            table = str(node.get("table_name") or "")
            tables.add((schema, table))
            everything |= schema.lower() in _LISTING_SCHEMAS or table in _LISTING_FUNCTIONS
        elif kind == "SHOW_REF" and node.get("query") is None:
            everything = True  # SHOW TABLES, SHOW ALL TABLES
        elif kind == "TABLE_FUNCTION":
            name = str((node.get("function") or {}).get("function_name") or "").lower()
            if name not in TABLE_FUNCTIONS:
                return {"refused": _refusal(name)}
            everything |= name in _LISTING_FUNCTIONS
    return {"tables": sorted(tables), "everything": everything, "sql": sql}


def _refusal(function: str) -> str:
    if _FILE_READERS.match(function):
        return (
            f"{function} reads files outside the catalog; the SQL console reads datasets only: "
            "name one as stage.name (raw.products)."
        )
    return f"The table function {function} is not available in the SQL console."


def _nodes(tree: object) -> Iterator[dict[str, Any]]:
    """Every object in a parse tree, without recursion (trees can be deep)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# ----------------------------------------------------------------------------- the database


def open_database(request: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    """An in-memory database holding exactly the requested views, locked down."""
    con = duckdb.connect(
        config={
            "threads": int(request["threads"]),
            "memory_limit": str(request["memory"]),
            "temp_directory": "",
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "allow_persistent_secrets": False,
        }
    )
    files = ", ".join(_literal(f) for f in request["files"])
    con.execute(f"SET allowed_paths = [{files}]")
    con.execute("SET enable_external_access = false")
    for schema in sorted({view[0] for view in request["views"]}):
        con.execute(f"CREATE SCHEMA {_ident(schema)}")
    for schema, name, select in request["views"]:
        con.execute(f"CREATE VIEW {_ident(schema)}.{_ident(name)} AS {select}")
    con.execute("SET lock_configuration = true")
    return con


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Watchdog:
    """Interrupts the running query at its deadline; one thread for the worker's life."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        threading.Thread(target=self._loop, daemon=True).start()

    def arm(self, con: duckdb.DuckDBPyConnection, seconds: float) -> None:
        with self._cond:
            self._con, self._deadline = con, time.monotonic() + seconds
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._con, self._deadline = None, None

    def _loop(self) -> None:
        with self._cond:
            while True:
                if self._deadline is None:
                    self._cond.wait()
                elif time.monotonic() >= self._deadline:
                    if self._con is not None:
                        self._con.interrupt()
                    self._deadline = None
                else:
                    self._cond.wait(self._deadline - time.monotonic())


def run(
    outbox: Outbox,
    con: duckdb.DuckDBPyConnection,
    watchdog: Watchdog,
    request: dict[str, Any],
) -> dict[str, Any]:
    """Stream the rows of ``request["sql"]``; the closing answer says how it ended."""
    seconds = float(request["seconds"])
    _limit_cpu(seconds * int(request["threads"]) + 5)
    watchdog.arm(con, seconds)
    try:
        return _stream(outbox, con.execute(request["sql"]), request)
    except duckdb.Error as error:
        return {"error": _kind(error), "message": _first_line(error)}
    finally:
        watchdog.disarm()


def _stream(
    outbox: Outbox, result: duckdb.DuckDBPyConnection, request: dict[str, Any]
) -> dict[str, Any]:
    max_rows, max_bytes = int(request["max_rows"]), int(request["max_bytes"])
    reader = result.to_arrow_reader(batch_size=max(1, min(max_rows, _BATCH_ROWS)))
    outbox.put(SCHEMA, memoryview(reader.schema.serialize()))
    rows = size = 0
    for batch in reader:
        batch = batch.slice(0, max_rows - rows)
        payload = batch.serialize()
        size += payload.size
        if size > max_bytes:
            return {"error": "size", "message": f"{max_bytes}"}
        outbox.put(BATCH, memoryview(payload))
        rows += batch.num_rows
        if rows >= max_rows:
            break
    return {"rows": rows}


def _limit_cpu(seconds: float) -> None:
    """The next query may use ``seconds`` of CPU time; past that the kernel ends the worker."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _kind(error: duckdb.Error) -> str:
    for kind, cls in (
        ("timeout", duckdb.InterruptException),
        ("memory", duckdb.OutOfMemoryException),
        ("permission", duckdb.PermissionException),
        ("missing", duckdb.CatalogException),
        ("io", duckdb.IOException),
    ):
        if isinstance(error, cls):
            return kind
    return "failed"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    return re.sub(r"^[A-Za-z ]+ Error: ", "", line, count=1)


# ----------------------------------------------------------------------------- the loop


def limit_process(address_space: int) -> None:
    """No core files, no file writes, and at most ``address_space`` bytes of memory mapped."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    if address_space > 0:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def serve(connection: socket.socket) -> None:
    parser = duckdb.connect(config={"enable_external_access": False})
    parser.execute("SET lock_configuration = true")
    database: duckdb.DuckDBPyConnection | None = None
    watchdog = Watchdog()
    outbox = Outbox(connection)
    with connection.makefile("rb") as requests:
        while (frame := receive(requests)) is not None:
            request = json.loads(frame[1])
            op = request["op"]
            if op == "inspect":
                answer = inspect(parser, request["sql"])
            elif op == "load":
                if database is not None:
                    database.close()
                    database = None
                try:
                    database = open_database(request)
                    answer = {"loaded": len(request["views"])}
                except duckdb.Error as error:
                    answer = {"error": _kind(error), "message": _first_line(error)}
            elif op == "run" and database is not None:
                answer = run(outbox, database, watchdog, request)
            else:
                answer = {"error": "failed", "message": f"unknown request {op!r}"}
            outbox.put_json(answer)
            outbox.flush()


def main() -> None:
    connection = socket.socket(fileno=int(sys.argv[1]))
    limit_process(int(sys.argv[2]))
    try:
        serve(connection)
    finally:
        connection.close()


if __name__ == "__main__":
    main()
