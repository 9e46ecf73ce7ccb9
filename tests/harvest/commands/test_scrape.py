"""``harvest scrape`` and ``harvest sources``: exit codes, summaries, JSON, one-sentence errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo_site import DemoSite
from harvest.cli import main


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite() as running:
        yield running


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sources_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    (home / "sources").mkdir(parents=True)
    (home / "sources" / "mine.yaml").write_text(
        "name: mine\nstart_urls: [https://example.org/]\nschedule: '0 1 * * *'\n"
    )
    (home / "sources" / "broken.yaml").write_text("name: broken\nstart_urls: []\n")
    code, out, _ = run(capsys, "--home", str(home), "sources", "list", "--json")
    assert code == 0
    listed = {s["name"]: s for s in json.loads(out)}
    assert {"products", "reviews", "articles", "tables", "mine", "broken"} <= set(listed)
    assert listed["mine"]["origin"] == "user" and listed["products"]["origin"] == "bundled"
    assert (
        listed["reviews"]["render"] == "http, browser" and listed["mine"]["schedule"] == "0 1 * * *"
    )
    assert "`start_urls`" in listed["broken"]["error"]
    code, out, _ = run(capsys, "--home", str(home), "sources", "list")
    assert code == 0 and "products" in out
    code, out, _ = run(capsys, "--home", str(home), "sources", "show", "tables", "--json")
    shown = json.loads(out)
    assert (
        code == 0
        and shown["spec"]["extract"] == ["tables"]
        and shown["spec"]["start_urls"][0].endswith("/tables")
    )
    code, out, _ = run(capsys, "--home", str(home), "sources", "show", "articles")
    assert code == 0 and "extract:" in out and "article" in out


def test_scrape_prints_a_summary_and_json(
    site: DemoSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    code, out, err = run(capsys, "--home", home, "scrape", "tables", "--base-url", site.url)
    assert code == 0, err
    assert "tables: 1 pages, 18 records, 0 errors" in out and "new version raw.tables@1" in out
    code, out, err = run(
        capsys, "--home", home, "scrape", "tables", "--base-url", site.url, "--json"
    )
    answer = json.loads(out)
    assert (
        code == 0
        and answer["status"] == "unchanged"
        and answer["version"] == 1
        and answer["items"] == 18
    )
    code, out, err = run(capsys, "--home", home, "sources", "show", "tables", "--json")
    assert [c["status"] for c in json.loads(out)["crawls"]] == ["unchanged", "committed"]


def test_scrape_mistakes_are_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nstart_urls: [https://example.org/]\nitem: {fields: {price: {css: .p, type: money}}}\n"
    )
    cases = [
        (("scrape", "--spec", str(bad)), "`item.fields.price.type`"),
        (("scrape", "nope"), "No source named 'nope'"),
        (("scrape",), "Name a source"),
        (("scrape", "tables", "--spec", str(bad)), "not both"),
        (("sources", "show", "nope"), "No source named 'nope'"),
    ]
    for args, message in cases:
        code, _, err = run(capsys, "--home", home, *args)
        assert code == 1, args
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_failed_crawl_exits_non_zero_and_says_why(
    site: DemoSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "dies.yaml"
    spec.write_text(
        f"name: dies\nstart_urls: [{site.url}/tables]\nspider: tests.scrapers.spiders:KillingSpider\n"
    )
    code, out, err = run(capsys, "--home", str(tmp_path / "home"), "scrape", "--spec", str(spec))
    assert code == 1 and "nothing committed" in out
    assert (
        "The crawl of dies failed and nothing was committed: the crawl process was killed (signal 9)."
        in err
    )


def test_the_summary_and_json_count_dropped_responses_by_reason(
    site: DemoSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "dropping.yaml"
    urls = ["/faults/gzip-bomb?mb=4", "/private/", "/private/x", "/images/products/1001.png"]
    spec.write_text(
        f"name: dropping\nbase_url: {site.url}\nstart_urls: {json.dumps(urls)}\n"
        "limits: {max_bytes: 1048576}\ncache: false\n"
    )
    home = str(tmp_path / "home")
    code, out, err = run(capsys, "--home", home, "scrape", "--spec", str(spec))
    assert code == 0, err
    assert (
        "  dropped 4: 2 disallowed by robots.txt (robots), 1 over the size limit (size), "
        "1 not text (an image, a PDF, other binary content) (type)"
    ) in out
    code, out, err = run(capsys, "--home", home, "scrape", "--spec", str(spec), "--json")
    assert code == 0 and json.loads(out)["dropped"] == {"size": 1, "robots": 2, "type": 1}
