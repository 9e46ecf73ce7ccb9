"""Extraction quality: per-field precision, recall and F1 of the automatic extractors on
labelled pages, beside a baseline measured on the same pages.

``python -m bench extraction`` prints, for each corpus (a function below, registered in
``CORPORA``): the ``product`` extractor's figures per field, then the old
``[jsonld, microdata, opengraph]`` extraction's on the same pages. The corpora:

- ``products``: pages written to reproduce the markup of Shopify, WooCommerce, Magento,
  BigCommerce, PrestaShop, Salesforce Commerce, custom server-rendered and
  client-rendered shops, with their quirks (``tests/scrapers/corpus/products/``, each
  page's labels and quirks in its ``.json``).
- ``demo``: product pages of the bundled demo site (seed 7, day 1), labelled from the
  data that generated them.

Goals: price F1 of ``product`` ≥ 0.92 on each corpus, and never below the baseline's.
To add a corpus (tables, say), write a function returning figures and list it in ``CORPORA``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.common import Figure
from bench.extraction_tables import table_figures
from demo_site import DemoData
from demo_site.pages import Pages
from demo_site.words import CATEGORIES
from scrapers.evaluation import (
    FieldScore,
    LabelledPage,
    load_corpus,
    score_fields,
    structured_prediction,
)
from scrapers.extract import structured_row
from scrapers.product import FIELDS, product_row

PRODUCT_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "scrapers" / "corpus" / "products"
DEMO_ORIGIN = "http://demo.example"
DEMO_PAGES = 60
PRICE_GOAL = 0.92


def product_predictions(
    pages: Iterable[LabelledPage],
) -> list[tuple[dict[str, Any], Mapping[str, Any]]]:
    """``product`` on each page, beside its labels."""
    return [(dict(product_row(p.html, p.url)), p.labels) for p in pages]


def baseline_predictions(
    pages: Iterable[LabelledPage],
) -> list[tuple[dict[str, Any], Mapping[str, Any]]]:
    """``[jsonld, microdata, opengraph]`` on each page, beside its labels."""
    return [
        (
            structured_prediction(
                structured_row(p.html, p.url, ["jsonld", "microdata", "opengraph"])
            ),
            p.labels,
        )
        for p in pages
    ]


def demo_product_pages(count: int = DEMO_PAGES, seed: int = 7, day: int = 1) -> list[LabelledPage]:
    """Every ``len // count``-th product page of the demo shop, labelled from its data."""
    data = DemoData(seed=seed)
    pages = Pages(data)
    shop = data.day(day)
    products = shop.products[:: max(1, len(shop.products) // count)][:count]
    labelled = []
    for product in products:
        offer = shop.offers[product.id]
        category = next(c for c in CATEGORIES if c.slug == product.category)
        priced = offer.price is not None and product.currency is not None
        labels = {
            "name": product.title,
            "price": float(offer.price) if priced and offer.price is not None else None,
            "currency": product.currency if priced else None,
            "regular_price": float(offer.was_price) if offer.was_price else None,
            "availability": offer.availability,
            "sku": product.sku,
            "gtin": product.gtin,
            "mpn": None,
            "brand": product.brand,
            "images": [DEMO_ORIGIN + product.image_path],
            "description": product.description_text,
            "category": category.name,
        }
        html = pages.product(DEMO_ORIGIN, day, product)
        labelled.append(
            LabelledPage(f"demo-{product.id}", DEMO_ORIGIN + product.path, html, labels)
        )
    return labelled


def field_figures(
    corpus: str, extractor: str, scores: Mapping[str, FieldScore], goal: bool
) -> list[Figure]:
    """One figure per field: F1, with precision, recall and counts in the detail."""
    figures = []
    for name, score in scores.items():
        figures.append(
            Figure(
                name=f"{corpus}: {extractor} {name} F1",
                value=score.f1,
                unit="",
                goal=PRICE_GOAL if goal and name == "price" else None,
                op=">=" if goal and name == "price" else "",
                detail=f"P {score.precision:.3f} R {score.recall:.3f}; "
                f"{score.right} right, {score.wrong} wrong, {score.missed} missed",
            )
        )
    return figures


def corpus_figures(corpus: str, pages: list[LabelledPage]) -> list[Figure]:
    """``product`` against the structured-data baseline on ``pages``."""
    ours = score_fields(product_predictions(pages), tuple(FIELDS))
    baseline = score_fields(baseline_predictions(pages), tuple(FIELDS))
    gain = Figure(
        name=f"{corpus}: price F1, product minus baseline ({len(pages)} pages)",
        value=ours["price"].f1 - baseline["price"].f1,
        unit="",
        goal=0.0,
        op=">=",
    )
    return [
        *field_figures(corpus, "product", ours, goal=True),
        *field_figures(corpus, "baseline", baseline, goal=False),
        gain,
    ]


def products_corpus() -> list[Figure]:
    return corpus_figures("products", load_corpus(PRODUCT_CORPUS))


def demo_corpus() -> list[Figure]:
    return corpus_figures("demo", demo_product_pages())


def tables_corpus() -> list[Figure]:
    """Tables read as their authors meant them, Harvest beside ``pandas.read_html``."""
    found = table_figures()
    missed = "; ".join(found["harvest_missed"]) or "none"
    return [
        Figure(
            "tables corpus: tables right",
            found["harvest_right"],
            unit=f"of {found['tables']}",
            goal=found["tables"] - 2,
            op=">=",
            detail=f"pandas.read_html {found['pandas_right']}; {found['pages']} pages; "
            f"Harvest missed: {missed}",
        )
    ]


CORPORA: list[Callable[[], list[Figure]]] = [products_corpus, demo_corpus, tables_corpus]


def run() -> list[Figure]:
    return [figure for corpus in CORPORA for figure in corpus()]
