"""SQL: one read-only statement in the sandbox, over the datasets the caller may read only;
results as JSON or an Arrow IPC stream."""

from __future__ import annotations

import pyarrow as pa
from fastapi import APIRouter, Response

from server.deps import PrincipalDep, ServicesDep
from server.problems import RESPONSES
from server.schemas import SqlRequest, SqlResult
from server.visible import arrow_columns, json_rows

router = APIRouter(prefix="/v1", tags=["sql"], responses=RESPONSES)
ARROW = "application/vnd.apache.arrow.stream"


@router.post(
    "/sql",
    response_model=SqlResult,
    summary="Run a query",
    responses={200: {"content": {ARROW: {}}}},
)
def run_sql(body: SqlRequest, s: ServicesDep, principal: PrincipalDep) -> SqlResult | Response:
    """Run ``sql`` with the same time, memory and row limits as the command line. Only the
    datasets the caller may read are views; any other name is an unknown table."""
    names = [] if principal.admin else [d.name for d in s.datasets()]
    readable = None if principal.admin else s.accounts.readable(principal, names)
    table = s.sandbox.query(body.sql, readable=readable)
    if body.format == "arrow":
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(sink.getvalue().to_pybytes(), media_type=ARROW)
    return SqlResult(
        columns=arrow_columns(table.schema), rows=json_rows(table), row_count=table.num_rows
    )
