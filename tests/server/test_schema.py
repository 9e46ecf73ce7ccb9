"""The API against its own OpenAPI document: schemathesis generates requests for every
operation (a few examples each) and checks that none gets a 5xx and every response conforms
to the document (status, content type, body). It calls as a reader, whose token cannot start
jobs or change who reads what, so the fuzzing leaves the workspace as it found it.

(schemathesis's own pytest fixture loader does not run under pytest 9, so each operation is
a parametrised case drawing from that operation's Hypothesis strategy.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.app import create_app
from tests.server.conftest import Running

OPERATIONS = [
    (path, method.upper())
    for path, methods in create_app().openapi()["paths"].items()
    for method in methods
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(api: Running) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_every_operation_conforms_and_never_fails(
    api_schema: schemathesis.schemas.BaseSchema,
    api: Running,
    tokens: dict[str, str],
    path: str,
    method: str,
) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {tokens['reader']}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=api.url, headers=headers, checks=CHECKS)

    conforms()
