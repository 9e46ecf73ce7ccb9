"""How the demo site writes prices, availability and structured data.

Prices are written the way real shops write them: ``$1,299.00``, ``1.299,00 €`` (with a
no-break space), ``from £12`` and ``Price on request``. The structured data (JSON-LD and
microdata) always carries the plain decimal (``1299.00``) and an ISO currency code, so a
scraper can check one against the other.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from markupsafe import Markup

from demo_site.model import Article, Offer, Product
from demo_site.words import CategoryWords

SCHEMA = "https://schema.org/"
AVAILABILITY_LABELS = {
    "InStock": ("In stock", "in-stock"),
    "OutOfStock": ("Out of stock", "out-of-stock"),
    "LimitedAvailability": ("Only a few left", "limited"),
    "PreOrder": ("Pre-order", "pre-order"),
}


def amount(value: Decimal, currency: str) -> str:
    """``value`` written in the currency's local style."""
    if currency == "EUR":
        german = f"{value:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
        return f"{german}\u00a0€"
    symbol = {"USD": "$", "GBP": "£"}[currency]
    return f"{symbol}{value:,.2f}"


def price_text(product: Product, offer: Offer) -> str:
    """The price as the page shows it."""
    if offer.price is None or product.currency is None:
        return "Price on request"
    if product.from_price:
        return f"from {amount(offer.price, product.currency).replace('.00', '')}"
    return amount(offer.price, product.currency)


def plain(value: Decimal | None) -> str | None:
    """A price as structured data carries it: ``1299.00``."""
    return None if value is None else f"{value:.2f}"


def availability_label(offer: Offer) -> str:
    return AVAILABILITY_LABELS[offer.availability][0]


def availability_class(offer: Offer) -> str:
    return AVAILABILITY_LABELS[offer.availability][1]


def script_json(document: object) -> Markup:
    """JSON safe to put inside a ``<script>`` element (no ``</script>`` can appear)."""
    text = json.dumps(document, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def product_jsonld(
    product: Product, offer: Offer, category: CategoryWords, origin: str
) -> dict[str, object]:
    """The schema.org ``Product`` of a product page."""
    url = origin + product.path
    document: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "sku": product.sku,
        "image": origin + product.image_path,
        "category": category.name,
        "url": url,
    }
    if product.gtin:
        document["gtin13"] = product.gtin
    if product.brand:
        document["brand"] = (
            product.brand if product.brand_as_text else {"@type": "Brand", "name": product.brand}
        )
    if product.description_text:
        document["description"] = product.description_text
    document["offers"] = _offer_jsonld(product, offer, url)
    return document


def _offer_jsonld(product: Product, offer: Offer, url: str) -> dict[str, object]:
    availability = SCHEMA + offer.availability
    if offer.price is None or product.currency is None:
        return {"@type": "Offer", "availability": availability, "url": url}
    if product.from_price:
        return {
            "@type": "AggregateOffer",
            "lowPrice": plain(offer.price),
            "highPrice": plain(offer.high_price),
            "priceCurrency": product.currency,
            "offerCount": 3,
            "availability": availability,
            "url": url,
        }
    return {
        "@type": "Offer",
        "price": plain(offer.price),
        "priceCurrency": product.currency,
        "availability": availability,
        "url": url,
    }


def breadcrumbs_jsonld(trail: list[tuple[str, str]], origin: str) -> dict[str, object]:
    """A schema.org ``BreadcrumbList`` from ``(name, path)`` pairs."""
    return {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": i, "name": name, "item": origin + path}
            for i, (name, path) in enumerate(trail, start=1)
        ],
    }


def article_jsonld(article: Article, section_name: str, origin: str) -> dict[str, object]:
    """The schema.org ``NewsArticle`` of an article page."""
    return {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.dek,
        "articleSection": section_name,
        "datePublished": article.published.isoformat(),
        "author": {
            "@type": "Person",
            "name": article.author.name,
            "url": origin + article.author.path,
        },
        "mainEntityOfPage": origin + article.path,
        "publisher": {"@type": "Organization", "name": "Harvest Demo Magazine"},
    }


def long_date(day: date) -> str:
    """``1 March 2025``."""
    return f"{day.day} {day:%B %Y}"
