"""A Dagster webserver as tests reach it: a free loopback port, GraphQL over HTTP, a wait
until the code location is served (``harvest dagster`` and the launcher's submission tests)."""

from __future__ import annotations

import json
import time
import urllib.request

from harvest.commands.orchestration import LOOPBACK

QUERY = """{ version workspaceOrError { __typename ... on Workspace { locationEntries {
  name locationOrLoadError { __typename } } } } }"""


def graphql(port: int, query: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://{LOOPBACK}:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())["data"]  # type: ignore[no-any-return]


def wait_for_location(port: int, timeout_s: float = 120.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            data = graphql(port, QUERY)
            entries = data["workspaceOrError"]["locationEntries"]  # type: ignore[index]
            if entries and entries[0]["locationOrLoadError"]:
                return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the Dagster UI did not serve the workspace in time")
        time.sleep(1.0)
