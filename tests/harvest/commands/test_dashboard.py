"""``harvest dashboard``: the streamlit command it runs, and bad ports."""

from __future__ import annotations

from typer.testing import CliRunner

from harvest.cli import app
from harvest.commands.dashboard import APP, streamlit_argv


def test_streamlit_runs_headless_on_loopback_without_usage_stats() -> None:
    argv = streamlit_argv(8765)
    assert argv[1:5] == ["-m", "streamlit", "run", str(APP)]
    assert APP.exists()
    for option in (
        "--server.headless=true",
        "--server.address=127.0.0.1",
        "--server.port=8765",
        "--browser.gatherUsageStats=false",
    ):
        assert option in argv


def test_a_bad_port_is_one_sentence() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--port", "0"])
    assert result.exit_code != 0
    assert "0 is not a port" in str(result.exception)
