"""The demo site: determinism, counts, structured data, days, robots, faults, images, CLI.

Everything runs against a real loopback server (a thread of this process, or a child
process for the command line). The expected counts here are the ones in docs/demo_site.md.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import extruct
import numpy as np
import pytest
from parsel import Selector
from PIL import Image
from price_parser import Price
from protego import Protego

from demo_site import DemoData, DemoSite, DemoSiteProcess, serve_demo_site
from demo_site.model import ARTICLES_PER_SCALE, PRODUCTS_PER_SCALE, Article
from demo_site.pages import Pages
from demo_site.words import CATEGORIES, SECTIONS
from scrapers.settings import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
DAY1_CATEGORY_COUNTS = {
    "kitchen": 79,
    "outdoor": 70,
    "audio": 65,
    "books": 79,
    "toys": 83,
    "garden": 83,
}
SECTION_COUNTS = {
    "technology": 64,
    "food": 50,
    "travel": 46,
    "science": 43,
    "sport": 49,
    "culture": 48,
}


@pytest.fixture(scope="module")
def site() -> Iterator[DemoSite]:
    with DemoSite() as running:
        yield running


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET, without following redirects or raising on errors."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def page(url: str) -> Selector:
    status, _, body = fetch(url)
    assert status == 200, url
    return Selector(text=body.decode())


def jsonld(selector: Selector, kind: str) -> dict[str, object]:
    for raw in selector.css('script[type="application/ld+json"]::text').getall():
        document = json.loads(raw)
        if document["@type"] == kind:
            return document
    raise AssertionError(f"no {kind} JSON-LD")


def product_urls(site: DemoSite) -> list[str]:
    urls = []
    for category in CATEGORIES:
        url: str | None = f"{site.url}/shop/{category.slug}/"
        while url:
            listing = page(url)
            urls += [
                site.url + href
                for href in listing.css("li.product-card a.product-link::attr(href)").getall()
            ]
            following = listing.css("a[rel=next]::attr(href)").get()
            url = site.url + following if following else None
    return urls


# Determinism and counts.


def test_the_same_seed_renders_the_same_pages_in_another_process() -> None:
    script = (
        "import hashlib; from demo_site import DemoData; from demo_site.pages import Pages;"
        "d = DemoData(); p = Pages(d); h = hashlib.sha256();"
        "[h.update(p.product('http://h', 2, x).encode()) for x in d.day(2).products[:50]];"
        "[h.update(p.article('http://h', a).encode()) for a in d.articles[:20]];"
        "print(h.hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    data = DemoData()
    pages = Pages(data)
    here = hashlib.sha256()
    for product in data.day(2).products[:50]:
        here.update(pages.product("http://h", 2, product).encode())
    for article in data.articles[:20]:
        here.update(pages.article("http://h", article).encode())
    assert other.stdout.strip() == here.hexdigest()


def test_another_seed_makes_another_site() -> None:
    assert [p.title for p in DemoData(seed=8).pool[:20]] != [
        p.title for p in DemoData(seed=7).pool[:20]
    ]


def test_day_one_counts_match_the_documented_numbers() -> None:
    data = DemoData()
    shop = data.day(1)
    assert len(data.pool) == PRODUCTS_PER_SCALE == 480
    assert len(shop.products) == 459
    assert {c.slug: len(shop.in_category(c.slug)) for c in CATEGORIES} == DAY1_CATEGORY_COUNTS
    assert len(data.articles) == ARTICLES_PER_SCALE == 300
    assert {s.slug: len(data.articles_in(s.slug)) for s in SECTIONS} == SECTION_COUNTS
    assert sum(p.duplicate for p in shop.products) == 28
    assert len(data.authors) == 18


def test_scale_multiplies_counts_and_keeps_the_smaller_site() -> None:
    small, large = DemoData(scale=1), DemoData(scale=5)
    assert len(large.pool) == 5 * len(small.pool)
    assert len(large.articles) == 1500
    assert large.pool[: len(small.pool)] == small.pool
    assert len(Pages(large).crawlable(1)) > 2000


def test_listings_paginate_through_every_product(site: DemoSite) -> None:
    first = page(f"{site.url}/shop/kitchen/")
    assert len(first.css("li.product-card")) == 24
    assert first.css("a[rel=next]::attr(href)").get() == "/shop/kitchen/?page=2"
    assert first.css("p.result-count::text").get() == "Showing 1–24 of 79 products"
    last = page(f"{site.url}/shop/kitchen/?page=4")
    assert len(last.css("li.product-card")) == 79 - 72
    assert last.css("a[rel=next]").get() is None
    assert fetch(f"{site.url}/shop/kitchen/?page=5")[0] == 404
    assert fetch(f"{site.url}/shop/kitchen/?page=two")[0] == 404
    assert fetch(f"{site.url}/shop/kitchen")[0] == 301
    urls = product_urls(site)
    assert len(urls) == len(set(urls)) == 459


# Product pages.


def test_product_jsonld_and_microdata_match_the_visible_fields(site: DemoSite) -> None:
    formats = set()
    for url in product_urls(site)[::3]:
        html = fetch(url)[2].decode()
        selector = Selector(text=html)
        product = jsonld(selector, "Product")
        assert product["name"] == selector.css("h1.product-title::text").get().strip()
        assert product["sku"] == selector.css("dd.sku::text").get()
        assert product["url"] == url == selector.css("link[rel=canonical]::attr(href)").get()
        category = selector.css("dd.product-category a::text").get()
        assert product["category"] == category
        brand = selector.css("p.brand [itemprop=brand] [itemprop=name]::text").get()
        assert brand == (
            None
            if "brand" not in product
            else product["brand"]
            if isinstance(product["brand"], str)
            else product["brand"]["name"]
        )
        description = " ".join(selector.css("div.description ::text").getall()).strip() or None
        assert description == product.get("description")
        offers = product["offers"]
        assert isinstance(offers, dict)
        assert offers["availability"].endswith(
            selector.css("link[itemprop=availability]::attr(href)").get().rsplit("/", 1)[1]
        )
        visible = selector.css("span.price::text").get()
        if visible == "Price on request":
            formats.add("request")
            assert "price" not in offers and "lowPrice" not in offers
            continue
        parsed = Price.fromstring(visible)
        expected = offers.get("price") or offers["lowPrice"]
        assert parsed.amount == Decimal(expected), (visible, expected)
        assert CURRENCY_SYMBOLS[parsed.currency] == offers["priceCurrency"]
        formats.add(
            "from"
            if visible.startswith("from ")
            else "eur"
            if visible.endswith("€")
            else "usd"
            if "$" in visible
            else "gbp"
        )
        microdata = extruct.extract(html, base_url=url, syntaxes=["microdata"])["microdata"]
        item = next(i for i in microdata if i["type"] == "https://schema.org/Product")
        assert item["properties"]["sku"] == product["sku"]
        micro_offer = item["properties"]["offers"]["properties"]
        assert Decimal(micro_offer.get("price") or micro_offer["lowPrice"]) == parsed.amount
    assert formats == {"usd", "eur", "gbp", "from", "request"}


def test_product_pages_are_messy_like_the_real_web(site: DemoSite) -> None:
    data = DemoData()
    shop = data.day(1)
    prices = [
        re.search(r'<span class="price">([^<]*)<', fetch(site.url + p.path)[2].decode())
        for p in shop.products[:150]
    ]
    texts = {m.group(1) for m in prices if m}
    assert any(re.fullmatch(r"\$\d{1,3}(,\d{3})+\.\d{2}", t) for t in texts)  # $1,299.00
    assert any(re.fullmatch(r"\d{1,3}(\.\d{3})*,\d{2}\u00a0€", t) for t in texts)  # 1.299,00 €
    assert any(re.fullmatch(r"from £\d+", t) for t in texts)
    assert any(p.brand is None for p in shop.products)
    assert any(p.description_html is None for p in shop.products)
    assert any(shop.offers[p.id].availability == "OutOfStock" for p in shop.products)
    assert any(shop.offers[p.id].was_price for p in shop.products)
    with_entities = next(
        p for p in shop.products if p.description_html and "&eacute;" in p.description_html
    )
    raw = fetch(site.url + with_entities.path)[2].decode()
    assert "&eacute;" in raw
    assert "é" in " ".join(Selector(text=raw).css("div.description ::text").getall())
    assert "&amp;" in fetch(f"{site.url}/shop/")[2].decode()  # "Outdoor &amp; Camping"
    out = next(p for p in shop.products if shop.offers[p.id].availability == "OutOfStock")
    sold_out = page(site.url + out.path)
    assert sold_out.css("p.availability::text").get() == "Out of stock"
    assert sold_out.css("form.add-to-cart button[disabled]")


def test_duplicate_products_have_a_second_url_with_a_canonical_link(site: DemoSite) -> None:
    data = DemoData()
    duplicate = next(p for p in data.day(1).products if p.duplicate)
    alias = page(f"{site.url}/shop/p/{duplicate.id}")
    assert alias.css("link[rel=canonical]::attr(href)").get() == site.url + duplicate.path
    assert alias.css("h1.product-title::text").get().strip() == duplicate.title
    picks = (
        page(f"{site.url}/shop/{duplicate.category}/")
        .css("aside.staff-picks a::attr(href)")
        .getall()
    )
    assert duplicate.alt_path in picks
    single = next(p for p in data.day(1).products if not p.duplicate)
    assert fetch(f"{site.url}/shop/p/{single.id}")[0] == 404
    status, headers, _ = fetch(f"{site.url}/shop/product/{duplicate.id}-wrong-slug")
    assert status == 301 and headers["Location"] == duplicate.path


def test_reviews_come_from_json_and_are_not_in_the_html(site: DemoSite) -> None:
    data = DemoData()
    product = next(p for p in data.day(1).products if p.initial_reviews >= 3)
    status, headers, body = fetch(f"{site.url}/api/reviews/{product.id}.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    reviews = json.loads(body)
    assert reviews["count"] == len(reviews["reviews"]) == product.initial_reviews
    assert {"id", "author", "rating", "title", "body", "date"} <= set(reviews["reviews"][0])
    html = fetch(site.url + product.path)[2].decode()
    assert reviews["reviews"][0]["body"] not in html
    assert 'id="reviews"' in html and 'data-state="loading"' in html
    assert fetch(f"{site.url}/api/reviews/999999.json")[0] == 404


# Days.


def test_day_two_moves_prices_stock_reviews_and_products() -> None:
    with serve_demo_site(day=1) as running:
        data = DemoData()
        sample = data.day(1).products[:120]
        before = {p.id: jsonld(page(running.url + p.path), "Product")["offers"] for p in sample}
        reviews_before = {
            p.id: json.loads(fetch(f"{running.url}/api/reviews/{p.id}.json")[2])["count"]
            for p in sample
        }
        running.set_day(2)
        assert running.day == 2
        after = {}
        for p in sample:
            status, _, body = fetch(running.url + p.path)
            if status == 200:
                after[p.id] = jsonld(Selector(text=body.decode()), "Product")["offers"]
        reviews_after = {
            p.id: json.loads(fetch(f"{running.url}/api/reviews/{p.id}.json")[2])["count"]
            for p in sample
            if p.id in after
        }
        gone = {p.id for p in data.day(1).products} - {p.id for p in data.day(2).products}
        new = {p.id for p in data.day(2).products} - {p.id for p in data.day(1).products}
        assert gone and new
        assert set(before) - set(after) == gone & set(before)
        moved = [i for i in after if before[i].get("price") != after[i].get("price")]
        assert 0.1 * len(after) < len(moved) < 0.45 * len(after)
        assert any(before[i]["availability"] != after[i]["availability"] for i in after)
        assert all(reviews_after[i] >= reviews_before[i] for i in reviews_after)
        assert any(reviews_after[i] > reviews_before[i] for i in reviews_after)
        new_product = data.products_by_id[min(new)]
        assert fetch(running.url + new_product.path)[0] == 200
        running.set_day(1)
        again = {p.id: jsonld(page(running.url + p.path), "Product")["offers"] for p in sample}
        assert again == before


# Magazine.


def test_articles_have_byline_date_body_and_boilerplate(site: DemoSite) -> None:
    data = DemoData()
    article = data.articles[0]
    selector = page(site.url + article.path)
    assert selector.css("h1.headline::text").get() == article.title
    assert selector.css("a[rel=author]::text").get() == article.author.name
    assert selector.css("time.published::attr(datetime)").get() == article.published.isoformat()
    assert selector.css("div.article-body > p::text").getall() == list(article.paragraphs)
    assert jsonld(selector, "NewsArticle")["headline"] == article.title
    assert (
        selector.css("aside.sidebar")
        and selector.css("footer.site-footer")
        and selector.css("section.related li")
    )
    for paragraph in article.paragraphs:
        for sentence in re.split(r"(?<=\.) ", paragraph):
            assert sentence[0].isupper() or sentence[0] == '"', sentence
            assert sentence.endswith(".")


def _mentions(pattern: re.Pattern[str], articles: list[Article]) -> float:
    return sum(len(pattern.findall(" ".join(a.paragraphs))) for a in articles) / len(articles)


def test_sections_differ_in_vocabulary() -> None:
    data = DemoData()
    for words in SECTIONS:
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, words.nouns)) + r")\b")
        own = [a for a in data.articles if a.section == words.slug]
        others = [a for a in data.articles if a.section != words.slug]
        assert _mentions(pattern, own) > 10 * _mentions(pattern, others), words.slug


def test_sections_paginate_and_the_feed_reaches_every_article(site: DemoSite) -> None:
    first = page(f"{site.url}/magazine/technology/")
    assert len(first.css("article.teaser")) == 20
    assert first.css("a[rel=next]::attr(href)").get() == "/magazine/technology/?page=2"
    assert len(page(f"{site.url}/magazine/technology/?page=4").css("article.teaser")) == 64 - 60
    infinite = page(f"{site.url}/magazine/infinite")
    assert len(infinite.css("li.feed-item")) == 20
    url: str | None = infinite.css("#feed::attr(data-next)").get()
    ids = [int(i) for i in infinite.css("li.feed-item::attr(data-article-id)").getall()]
    while url:
        batch = json.loads(fetch(site.url + url)[2])
        ids += [item["id"] for item in batch["items"]]
        url = batch["next"]
    assert len(ids) == len(set(ids)) == 300


# Tables, robots, sitemap.


def test_tables_page_has_data_tables_with_spanning_headers_and_a_layout_table(
    site: DemoSite,
) -> None:
    selector = page(f"{site.url}/tables")
    data_tables = selector.css("table.data-table")
    assert len(data_tables) == 4
    assert all(table.css("th") for table in data_tables)
    sales = selector.css("#table-sales")
    assert sales.css("thead tr").getall().__len__() == 2
    assert sales.css('th[rowspan="2"]::text').get() == "Category"
    assert sales.css('th[colspan="4"]::text').get() == "2024"
    assert len(sales.css("tbody tr")) == 6
    layout = selector.css("table.layout")
    assert layout.attrib["role"] == "presentation" and not layout.css("th")


def test_robots_disallows_a_linked_path_and_points_to_the_sitemap(site: DemoSite) -> None:
    robots_txt = fetch(f"{site.url}/robots.txt")[2].decode()
    rules = Protego.parse(robots_txt)
    assert not rules.can_fetch(f"{site.url}/private/", "harvest")
    assert rules.can_fetch(f"{site.url}/shop/kitchen/", "harvest")
    assert f"{site.url}/private/" in [
        site.url + h for h in page(f"{site.url}/").css("a::attr(href)").getall()
    ]
    assert list(rules.sitemaps) == [f"{site.url}/sitemap.xml"]


def test_sitemap_lists_every_crawlable_page_and_nothing_else(site: DemoSite) -> None:
    status, headers, body = fetch(f"{site.url}/sitemap.xml")
    assert status == 200 and "xml" in headers["Content-Type"]
    namespace = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locations = [loc.text or "" for loc in ET.fromstring(body).findall("s:url/s:loc", namespace)]
    data = DemoData()
    expected = 5 + 22 + 459 + 19 + 300 + 18  # see docs/demo_site.md
    assert len(locations) == len(set(locations)) == expected
    assert site.url + data.day(1).products[0].path in locations
    assert not [loc for loc in locations if "/private/" in loc or "/faults/" in loc]
    assert all(fetch(loc)[0] == 200 for loc in locations[:: len(locations) // 40])


# Faults.


def test_status_routes_answer_with_the_status_asked_for(site: DemoSite) -> None:
    for code in (200, 404, 410, 429, 500, 502, 503):
        assert fetch(f"{site.url}/faults/status/{code}")[0] == code
    assert fetch(f"{site.url}/faults/status/503")[1]["Retry-After"] == "1"
    status, headers, _ = fetch(f"{site.url}/faults/status/301")
    assert status == 301 and headers["Location"] == "/"
    assert fetch(f"{site.url}/faults/status/99")[0] == 400


def test_flaky_fails_n_times_per_token_then_works(site: DemoSite) -> None:
    assert [fetch(f"{site.url}/faults/flaky/alpha/2")[0] for _ in range(4)] == [503, 503, 200, 200]
    assert [fetch(f"{site.url}/faults/flaky/beta/1")[0] for _ in range(2)] == [503, 200]


def test_slow_answers_after_the_seconds_asked_for(site: DemoSite) -> None:
    started = time.perf_counter()
    assert fetch(f"{site.url}/faults/slow?seconds=0.5")[0] == 200
    assert time.perf_counter() - started >= 0.5
    assert fetch(f"{site.url}/faults/slow?seconds=soon")[0] == 400


def test_drop_closes_the_connection_without_a_response(site: DemoSite) -> None:
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        fetch(f"{site.url}/faults/drop")


def test_truncated_sends_less_than_its_content_length(site: DemoSite) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    connection.request("GET", "/faults/truncated")
    response = connection.getresponse()
    assert response.status == 200 and response.headers["Content-Length"] == "100000"
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert len(caught.value.partial) == 2048
    connection.close()


def test_redirects_loop_forever_or_end_after_n_hops(site: DemoSite) -> None:
    hops, url = [], "/faults/redirect-loop"
    for _ in range(6):
        status, headers, _ = fetch(site.url + url)
        assert status == 302
        url = headers["Location"]
        hops.append(url)
    assert hops == ["/faults/redirect-loop/back", "/faults/redirect-loop"] * 3
    hops, url = [], "/faults/redirect-endless"
    for _ in range(3):
        url = fetch(site.url + url)[1]["Location"]
        hops.append(url)
    assert hops == [f"/faults/redirect-endless?hop={n}" for n in (1, 2, 3)]
    with urllib.request.urlopen(f"{site.url}/faults/redirect/3", timeout=10) as response:
        assert response.url.endswith("/faults/redirect/0") and b"Arrived" in response.read()


def test_calendar_trap_never_ends(site: DemoSite) -> None:
    url, seen = "/faults/calendar/2025/03", set()
    for _ in range(30):
        selector = page(site.url + url)
        seen.add(url)
        url = selector.css("a[rel=next]::attr(href)").get()
    assert len(seen) == 30 and url == "/faults/calendar/2027/09"
    assert (
        page(f"{site.url}/faults/calendar/2025/01").css("a[rel=prev]::attr(href)").get()
        == "/faults/calendar/2024/12"
    )
    assert fetch(f"{site.url}/faults/calendar/2025/13")[0] == 404


def test_huge_streams_tens_of_megabytes(site: DemoSite) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    connection.request("GET", "/faults/huge")
    response = connection.getresponse()
    assert (
        response.headers["Transfer-Encoding"] == "chunked"
        and "Content-Length" not in response.headers
    )
    total = 0
    while chunk := response.read(1 << 20):
        total += len(chunk)
    assert total == 40 * 1024 * 1024
    connection.close()
    status, headers, body = fetch(f"{site.url}/faults/huge?mb=1&declare=1")
    assert status == 200 and headers["Content-Length"] == str(1 << 20) == str(len(body))


def test_the_gzip_bomb_is_small_on_the_wire_and_huge_inflated(site: DemoSite) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    connection.request("GET", "/faults/gzip-bomb?mb=16", headers={"Accept-Encoding": "gzip"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.headers["Content-Encoding"] == "gzip" and len(body) < 64 * 1024
    assert len(gzip.decompress(body)) > 16 * 1024 * 1024


def test_fault_routes_are_linked_only_from_the_test_page(site: DemoSite) -> None:
    links = page(f"{site.url}/tests/faults").css("a::attr(href)").getall()
    assert "/faults/drop" in links and "/faults/calendar/2025/03" in links
    for path in ("/", "/shop/", "/shop/kitchen/", "/magazine/", "/tables"):
        assert not [h for h in page(site.url + path).css("a::attr(href)").getall() if "faults" in h]


def test_hits_count_requests_by_path(site: DemoSite) -> None:
    site.reset_hits()
    fetch(f"{site.url}/tables")
    fetch(f"{site.url}/tables")
    fetch(f"{site.url}/robots.txt")
    assert site.hits("/tables") == 2 and site.hits("/") == 3 and site.hits("/private/") == 0


# Images.


def _saturated_colour(png: bytes) -> np.ndarray:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float).reshape(-1, 3)
    spread = pixels.max(axis=1) - pixels.min(axis=1)
    return pixels[spread > np.quantile(spread, 0.85)].mean(axis=0)


def test_images_are_deterministic_pngs_whose_look_depends_on_category(site: DemoSite) -> None:
    data = DemoData()
    by_category = {c.slug: [p for p in data.pool if p.category == c.slug][:16] for c in CATEGORIES}
    features: dict[str, list[np.ndarray]] = {}
    for slug, products in by_category.items():
        for product in products:
            status, headers, png = fetch(site.url + product.image_path)
            assert status == 200 and headers["Content-Type"] == "image/png"
            image = Image.open(io.BytesIO(png))
            assert image.format == "PNG" and image.size == (64, 64)
            features.setdefault(slug, []).append(_saturated_colour(png))
    first = by_category["kitchen"][0]
    assert fetch(site.url + first.image_path)[2] == fetch(site.url + first.image_path)[2]
    centroids = {slug: np.mean(values[:8], axis=0) for slug, values in features.items()}
    right = sum(
        min(centroids, key=lambda c: np.linalg.norm(centroids[c] - value)) == slug
        for slug, values in features.items()
        for value in values[8:]
    )
    assert right >= 0.9 * 8 * len(CATEGORIES)
    assert fetch(f"{site.url}/images/products/1.png")[0] == 404


# Running it.


def test_a_child_process_site_changes_day_over_http() -> None:
    with DemoSiteProcess(day=3) as running:
        assert running.day == 3
        running.set_day(4)
        assert running.day == 4
        assert fetch(f"{running.url}/")[0] == 200
        pid = running.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_site_serve_prints_its_url_and_stops_on_sigterm() -> None:
    harvest = shutil.which("harvest", path=str(Path(sys.executable).parent)) or "harvest"
    process = subprocess.Popen(
        [harvest, "site", "serve", "--port", "0", "--day", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        assert "day 2" in line
        assert fetch(url.group(0) + "/")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_module_entry_point_stops_on_ctrl_c() -> None:
    command = [sys.executable, "-m", "demo_site", "--port", "0", "--seed", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "(seed 3, day 1, scale 1)" in line
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_site_serve_says_so_when_the_port_is_taken() -> None:
    harvest = shutil.which("harvest", path=str(Path(sys.executable).parent)) or "harvest"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [harvest, "site", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Port {port} is already in use" in result.stderr


def test_warm_renders_every_crawlable_page(site: DemoSite) -> None:
    assert site.warm() == 5 + 22 + 459 + 19 + 300 + 18


# In a browser.


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")
def test_a_browser_sees_reviews_and_scrolls_the_feed(site: DemoSite) -> None:
    from playwright.sync_api import sync_playwright

    data = DemoData()
    product = next(p for p in data.day(1).products if p.initial_reviews >= 3)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            tab = browser.new_page()
            tab.goto(site.url + product.path)
            tab.wait_for_selector("#reviews[data-state=loaded]", timeout=10_000)
            assert tab.locator("#reviews article.review").count() == product.initial_reviews
            first = data.reviews(product, 1)[0]
            assert tab.locator("#reviews .review-body").first.text_content() == first.body
            tab.goto(f"{site.url}/magazine/infinite")
            for _ in range(40):
                if tab.locator("#feed[data-state=done]").count():
                    break
                tab.mouse.wheel(0, 50_000)
                tab.wait_for_timeout(100)
            assert tab.locator("li.feed-item").count() == 300
            assert tab.locator("#feed-sentinel").text_content() == "You have reached the end."
        finally:
            browser.close()
