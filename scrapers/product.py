"""The ``product`` extractor: a shop's product page as fields, with no selectors.

Every source a page has is read and each says what it saw, with a weight: **structured
data** (JSON-LD, microdata, RDFa), **meta tags** (``product:price:amount``,
``og:price:amount``, ``itemprop`` outside any microdata scope, Twitter's label/data pairs),
**embedded state** (JSON in ``<script>``: ``__NEXT_DATA__``, ``window.__INITIAL_STATE__``,
Shopify's product JSON, ``dataLayer`` pushes; ``scrapers.product_state``) and the
**visible page** (price candidates scored on their features, the main heading, the
breadcrumb, the gallery; ``scrapers.product_page``). The sources are combined, not
taken first-wins: values that agree add up (``1 - Π(1 - weight)``), and a price the page
shows struck through counts against being the current price, so stale structured data
that still carries the regular price loses to the sale price the page shows.

Each field comes with a confidence (0 to 1) and the source it came mostly from:
``structured``, ``meta``, ``state`` or ``visible``. ``product_row`` gives them as
record columns: ``price``, ``price_confidence``, ``price_source``, and so on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

from catalog.vocabulary import currency_code, currency_of
from scrapers import product_page as visible
from scrapers import product_state as state
from scrapers.extract import jsonld_entities
from scrapers.spec import PRODUCT
from scrapers.values import Row, Value, absolute_url, parse_number

FIELDS = PRODUCT
"""The fields of a product and their column types (``texts``: a list of text)."""
MIN_VISIBLE = 0.3  # a visible price scored below this is no evidence (a grid's, a total's)
SOURCES = ("structured", "meta", "state", "visible")

_PRODUCT_TYPES = visible.words(
    "Product ProductGroup IndividualProduct ProductModel SomeProducts Vehicle Book"
)
_GTIN_KEYS = ("gtin13", "gtin", "gtin12", "gtin14", "gtin8", "ean", "upc", "barcode", "isbn")
_AVAILABILITY = {
    "instock": "InStock",
    "in stock": "InStock",
    "in_stock": "InStock",
    "available": "InStock",
    "availablenow": "InStock",
    "outofstock": "OutOfStock",
    "out of stock": "OutOfStock",
    "out_of_stock": "OutOfStock",
    "oos": "OutOfStock",
    "soldout": "SoldOut",
    "sold out": "OutOfStock",
    "sold_out": "OutOfStock",
    "unavailable": "OutOfStock",
    "preorder": "PreOrder",
    "pre-order": "PreOrder",
    "pre order": "PreOrder",
    "presale": "PreSale",
    "backorder": "BackOrder",
    "back order": "BackOrder",
    "backordered": "BackOrder",
    "limitedavailability": "LimitedAvailability",
    "limited availability": "LimitedAvailability",
    "discontinued": "Discontinued",
    "instoreonly": "InStoreOnly",
    "onlineonly": "OnlineOnly",
}
_AVAILABILITY_TEXT = (
    (
        re.compile(
            r"\b(out of stock|sold out|currently unavailable|nicht verfügbar|ausverkauft|épuisé|agotado)\b",
            re.I,
        ),
        "OutOfStock",
    ),
    (re.compile(r"\b(pre-?order|vorbestell)", re.I), "PreOrder"),
    (
        re.compile(r"\b(only \d+ left|only a few left|low stock|few left|limited stock)\b", re.I),
        "LimitedAvailability",
    ),
    (re.compile(r"\b(back-?order)", re.I), "BackOrder"),
    (
        re.compile(
            r"\b(in stock|available now|ready to ship|auf lager|lieferbar|en stock|disponible)\b",
            re.I,
        ),
        "InStock",
    ),
)
_DOLLAR_REGIONS = {"CA": "CAD", "AU": "AUD", "NZ": "NZD", "SG": "SGD", "HK": "HKD", "MX": "MXN"}
_EURO = "AT BE CY DE EE ES FI FR GR HR IE IT LT LU LV MT NL PT SI SK"
_REGION_CURRENCIES = {
    **dict.fromkeys(_EURO.split(), "EUR"),
    **_DOLLAR_REGIONS,
    "US": "USD",
    "GB": "GBP",
    "JP": "JPY",
    "CH": "CHF",
    "PL": "PLN",
    "SE": "SEK",
    "NO": "NOK",
    "DK": "DKK",
    "CZ": "CZK",
    "IN": "INR",
    "BR": "BRL",
}
_TAGS = re.compile(r"<[^>]+>")
_NOT_DIGIT = re.compile(r"\D")
_SKU_TEXT = re.compile(
    r"\b(?:SKU|Item(?: No\.?| number| #)|Art(?:ikel)?\.?-?(?:Nr|nummer)\.?|Référence|Ref\.?|Model(?: No\.?)?)\s*[:#]?\s*([A-Z0-9][A-Z0-9._/-]{2,40})",
    re.I,
)


@dataclass(frozen=True)
class Evidence:
    """One source's word on one field: this value, this much."""

    field: str
    value: str | float | tuple[str, ...]
    source: str
    weight: float  # 0 to 1
    against: bool = False  # evidence that the value is NOT this field (a struck-through price)


@dataclass(frozen=True)
class Found:
    """A field's value, how sure the extractor is of it, and the source it came mostly from."""

    value: str | float | tuple[str, ...]
    confidence: float
    source: str


@dataclass(frozen=True)
class Page:
    """What every source needs of the page: its tree, URL and a first guess at the product's name."""

    tree: HtmlElement
    url: str
    name_hint: str | None
    region: str | None  # the locale's country (``en-CA`` -> CA), for "$" and "kr"


# -- the extractor -------------------------------------------------------------------


def product_row(page: str | HtmlElement, url: str, fields: Sequence[str] = tuple(FIELDS)) -> Row:
    """The product's ``fields`` as record columns, each with ``_confidence`` and ``_source``."""
    found = product_fields(page, url)
    row: Row = {}
    for field in fields:
        result = found.get(field)
        value: Value = None
        if result is not None:
            value = list(result.value) if isinstance(result.value, tuple) else result.value
        row[field] = value
        row[f"{field}_confidence"] = round(result.confidence, 3) if result else None
        row[f"{field}_source"] = result.source if result else None
    return row


def product_fields(page: str | HtmlElement, url: str) -> dict[str, Found]:
    """Every field found on the product page, sources combined."""
    tree = lxml.html.fromstring(page) if isinstance(page, str) else page
    context = Page(tree=tree, url=url, name_hint=_name_hint(tree), region=_region(tree))
    evidence = [
        *structured_evidence(context),
        *meta_evidence(context),
        *state_evidence(context),
        *visible_evidence(context),
    ]
    return combine(evidence, context)


def combine(evidence: Iterable[Evidence], page: Page | None = None) -> dict[str, Found]:
    """Each field's best-supported value: agreeing sources add up, evidence against subtracts."""
    support: dict[tuple[str, Any], dict[str, float]] = {}
    against: dict[tuple[str, Any], float] = {}
    values: dict[tuple[str, Any], str | float | tuple[str, ...]] = {}
    for item in evidence:
        key = (item.field, _key(item.value))
        if item.against:
            against[key] = max(against.get(key, 0.0), item.weight)
            continue
        by_source = support.setdefault(key, {})
        by_source[item.source] = max(by_source.get(item.source, 0.0), item.weight)
        values.setdefault(key, item.value)
    scored: dict[str, list[tuple[float, str, Any]]] = {}
    for key, by_source in support.items():
        confidence = 1 - math.prod(1 - w for w in by_source.values())
        confidence *= 1 - against.get(key, 0.0)
        source = max(by_source, key=lambda s: by_source[s])
        scored.setdefault(key[0], []).append((confidence, source, values[key]))
    found = {
        field: Found(value=value, confidence=confidence, source=source)
        for field, options in scored.items()
        for confidence, source, value in [max(options, key=lambda o: o[0])]
    }
    return _coherent(found, scored)


def _key(value: str | float | tuple[str, ...]) -> Any:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, tuple):
        return value[0] if value else ""
    return " ".join(value.split()).casefold()


def _coherent(
    found: dict[str, Found], scored: dict[str, list[tuple[float, str, Any]]]
) -> dict[str, Found]:
    """A regular price is above the price (else the next best one that is, or none)."""
    price = found.get("price")
    regular = found.get("regular_price")
    if regular is not None:
        above = [
            o
            for o in scored["regular_price"]
            if price is None
            or (
                isinstance(o[2], float)
                and isinstance(price.value, float)
                and o[2] > price.value + 0.004
            )
        ]
        if above:
            best = max(above, key=lambda o: o[0])
            found["regular_price"] = Found(value=best[2], confidence=best[0], source=best[1])
        else:
            del found["regular_price"]
    return found


# -- the product's name, before anything else ------------------------------------------


def _name_hint(tree: HtmlElement) -> str | None:
    """A first guess at the product's name (the ``h1``, else ``og:title``, else the title),
    used to pick the main product among several in structured data and state."""
    for query in ("//h1", "//meta[@property='og:title']/@content", "//title"):
        for found in tree.xpath(query):
            text = visible.clean_text(found if isinstance(found, str) else found.text_content())
            if text:
                return text
    return None


def _region(tree: HtmlElement) -> str | None:
    for query in ("//meta[@property='og:locale']/@content", "/html/@lang", "//html/@lang"):
        for value in tree.xpath(query):
            parts = re.split(r"[-_]", str(value))
            if len(parts) > 1:
                return parts[1].upper()
    return None


def _currency(text: str | None, page: Page) -> str | None:
    """An ISO code from a code or symbol; "$" in a Canadian (...) locale is that dollar."""
    if not text:
        return None
    code = currency_code(text) or currency_of(text)
    if code == "USD" and "US" not in text.upper() and page.region in _DOLLAR_REGIONS:
        return _DOLLAR_REGIONS[page.region]
    return code


def _availability(value: Any) -> str | None:
    if isinstance(value, bool):
        return "InStock" if value else "OutOfStock"
    if not isinstance(value, str) or not value.strip():
        return None
    word = value.strip().rstrip("/").rsplit("/", 1)[-1]
    found = _AVAILABILITY.get(word.lower())
    if found:
        return found
    for pattern, name in _AVAILABILITY_TEXT:
        if pattern.search(value):
            return name
    return None


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        parsed = parse_number(str(value)) if any(c.isdigit() for c in str(value)) else None
        number = float(parsed) if parsed is not None else 0.0
    return number if number > 0 else None


def _gtin(value: Any) -> str | None:
    digits = _NOT_DIGIT.sub("", str(value)) if isinstance(value, str | int) else ""
    return digits if len(digits) in (8, 12, 13, 14) else None


def _plain(value: Any) -> str | None:
    """A scalar as text; objects by their name (a Brand), lists by their first item."""
    if isinstance(value, list):
        return _plain(value[0]) if value else None
    if isinstance(value, Mapping):
        for key in ("name", "@value", "title", "value", "url", "@id"):
            if value.get(key) is not None:
                return _plain(value[key])
        return None
    if value is None or isinstance(value, bool):
        return None
    text = " ".join(_TAGS.sub(" ", str(value)).split())
    return text or None


def _images(value: Any, base: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    urls = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("contentUrl") or item.get("url") or item.get("src") or item.get("@id")
        if isinstance(item, str) and item.strip():
            url = (
                absolute_url(item.strip(), base)
                if not item.startswith("//")
                else "https:" + item.strip()
            )
            if url:
                urls.append(url)
    return tuple(dict.fromkeys(urls))


def _leaf_category(value: Any) -> str | None:
    text = _plain(value)
    if not text:
        return None
    return re.split(r"\s*(?:>|/|›|»|\|)\s*", text)[-1].strip() or None


# -- structured data -------------------------------------------------------------------


def structured_evidence(page: Page) -> Iterator[Evidence]:
    """The main Product of the page's JSON-LD, microdata and RDFa."""
    entities = list(_walk_entities(jsonld_entities(page.tree)))
    entities += list(_extruct_entities(page))
    products = [e for e in entities if set(_types(e)) & _PRODUCT_TYPES]
    main = _main(products, page.name_hint)
    if main is not None:
        product, fit = main
        yield from _product_evidence(product, "structured", 0.9 * fit, page)
    for entity in entities:
        if "BreadcrumbList" in _types(entity):
            category = _breadcrumb_leaf(entity, page.name_hint)
            if category:
                yield Evidence("category", category, "structured", 0.8)


def _walk_entities(items: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    """Every typed object of a JSON-LD document, graphs and nested items included."""
    for item in items:
        if isinstance(item, list):
            yield from _walk_entities(item)
        elif isinstance(item, Mapping):
            if "@type" in item:
                yield item
            for key, value in item.items():
                if key in (
                    "@graph",
                    "itemListElement",
                    "item",
                    "mainEntity",
                    "hasVariant",
                    "isRelatedTo",
                    "isSimilarTo",
                ):
                    yield from _walk_entities(value if isinstance(value, list) else [value])


def _extruct_entities(page: Page) -> Iterator[Mapping[str, Any]]:
    """Microdata and RDFa items, read by extruct only when the page has any."""
    has_microdata = bool(page.tree.xpath("//*[@itemscope][1]"))
    has_rdfa = bool(page.tree.xpath("//*[@typeof][1]"))
    if not (has_microdata or has_rdfa):
        return
    import extruct  # heavy; pages without microdata or RDFa never pay for the import

    if has_microdata:
        found = extruct.extract(
            page.tree, base_url=page.url, syntaxes=["microdata"], uniform=True, errors="ignore"
        )
        yield from _walk_entities(found.get("microdata") or [])
    if has_rdfa:  # pyRdfa reads a document, not an lxml tree
        html = lxml.html.tostring(page.tree, encoding="unicode")
        found = extruct.extract(html, base_url=page.url, syntaxes=["rdfa"], errors="ignore")
        yield from _walk_entities(_rdfa_as_jsonld(found.get("rdfa") or []))


def _rdfa_as_jsonld(nodes: list[Any]) -> list[dict[str, Any]]:
    """extruct's expanded RDFa (full IRIs, values in lists) as plain schema.org objects."""
    by_id = {n.get("@id"): n for n in nodes if isinstance(n, Mapping)}

    def plain(node: Mapping[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {"@type": [str(t).rsplit("/", 1)[-1] for t in node.get("@type", [])]}
        for key, values in node.items():
            if key.startswith("@") or not isinstance(values, list):
                continue
            name = key.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
            items = []
            for value in values:
                if isinstance(value, Mapping) and "@value" in value:
                    items.append(value["@value"])
                elif isinstance(value, Mapping) and value.get("@id") in by_id and depth < 4:
                    items.append(plain(by_id[value["@id"]], depth + 1))
                elif isinstance(value, Mapping) and "@id" in value:
                    items.append(value["@id"])
            out[name] = items[0] if len(items) == 1 else items
        return out

    return [plain(n, 0) for n in nodes if isinstance(n, Mapping) and n.get("@type")]


def _types(entity: Mapping[str, Any]) -> list[str]:
    kind = entity.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return [str(k).rstrip("/").rsplit("/", 1)[-1] for k in kinds if k]


def _main(
    products: list[Mapping[str, Any]], name_hint: str | None
) -> tuple[Mapping[str, Any], float] | None:
    """The product the page is about (its name closest to the heading) and how well it fits."""
    if not products:
        return None
    if name_hint is None or (len(products) == 1 and not _name_of(products[0])):
        return products[0], 1.0
    scored = [(visible.similarity(_name_of(p), name_hint), -i, p) for i, p in enumerate(products)]
    best, _, product = max(scored, key=lambda s: (s[0], s[1]))
    if len(products) == 1:
        return product, 1.0 if best > 0 or not _name_of(product) else 0.8
    return product, 1.0 if best >= 0.3 else 0.7


def _name_of(entity: Mapping[str, Any]) -> str:
    return _plain(entity.get("name") or entity.get("title")) or ""


def _product_evidence(
    product: Mapping[str, Any], source: str, weight: float, page: Page
) -> Iterator[Evidence]:
    """A schema.org Product's fields, its offer's price and currency included."""
    texts = {
        "name": _plain(product.get("name")),
        "sku": _plain(product.get("sku") or product.get("productID")),
        "mpn": _plain(product.get("mpn")),
        "brand": _plain(product.get("brand") or product.get("manufacturer")),
        "description": _plain(product.get("description")),
        "category": _leaf_category(product.get("category")),
        "gtin": next((g for g in (_gtin(product.get(k)) for k in _GTIN_KEYS) if g), None),
    }
    for field, text in texts.items():
        if text:
            yield Evidence(field, text, source, weight)
    images = _images(product.get("image"), page.url)
    if images:
        yield Evidence("images", images, source, weight * 0.9)
    offers = _offers(product)
    if not offers and isinstance(product.get("hasVariant"), list):
        offers = [o for v in product["hasVariant"] if isinstance(v, Mapping) for o in _offers(v)]
    prices = {_price(o.get("price") or o.get("lowPrice")) for o in offers} - {None}
    spread = 1.0 if len(prices) <= 1 else 0.85  # variants at different prices: less sure
    for offer in offers[:1]:
        yield from _offer_evidence(offer, source, weight * spread, page)


def _offers(entity: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = entity.get("offers")
    items = found if isinstance(found, list) else [found]
    offers: list[Mapping[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            nested = item.get("offers")
            if (
                isinstance(nested, list | Mapping)
                and item.get("price") is None
                and item.get("lowPrice") is None
            ):
                offers.extend(_offers(item))
            else:
                offers.append(item)
    return offers


def _offer_evidence(
    offer: Mapping[str, Any], source: str, weight: float, page: Page
) -> Iterator[Evidence]:
    specs = offer.get("priceSpecification")
    specs = specs if isinstance(specs, list) else [specs] if isinstance(specs, Mapping) else []
    price = _price(offer.get("price") if offer.get("price") is not None else offer.get("lowPrice"))
    currency = _plain(offer.get("priceCurrency"))
    for spec in specs:
        kind = _plain(spec.get("priceType")) or ""
        amount = _price(spec.get("price"))
        if amount is None:
            continue
        if re.search(r"ListPrice|StrikethroughPrice|MSRP|SRP|InvoicePrice", kind):
            yield Evidence("regular_price", amount, source, weight * 0.9)
        elif price is None:
            price = amount
        currency = currency or _plain(spec.get("priceCurrency"))
    if price is not None:
        yield Evidence("price", price, source, weight * 0.95)
    code = _currency(currency, page)
    if code:
        yield Evidence("currency", code, source, weight)
    availability = _availability(_plain(offer.get("availability")))
    if availability:
        yield Evidence("availability", availability, source, weight * 0.9)
    sku, gtin = (
        _plain(offer.get("sku")),
        next((g for g in (_gtin(offer.get(k)) for k in _GTIN_KEYS) if g), None),
    )
    if sku:
        yield Evidence("sku", sku, source, weight * 0.8)
    if gtin:
        yield Evidence("gtin", gtin, source, weight * 0.8)


def _breadcrumb_leaf(entity: Mapping[str, Any], name_hint: str | None) -> str | None:
    items = entity.get("itemListElement")
    items = items if isinstance(items, list) else []
    ranked = sorted(
        (i for i in items if isinstance(i, Mapping)), key=lambda i: _price(i.get("position")) or 0
    )
    found = [_plain(i.get("name")) or _plain(i.get("item")) for i in ranked]
    names = [
        n for n in found if n and not n.startswith("http") and n.lower() not in ("home", "shop")
    ]
    names = [n for n in names if not name_hint or visible.similarity(n, name_hint) < 0.6]
    return names[-1] if names else None


# -- meta tags and itemprop outside a scope --------------------------------------------

_META: dict[str, tuple[str, float]] = {
    "product:price:amount": ("price", 0.8),
    "og:price:amount": ("price", 0.75),
    "product:sale_price:amount": ("price", 0.8),
    "product:price:currency": ("currency", 0.8),
    "og:price:currency": ("currency", 0.75),
    "product:sale_price:currency": ("currency", 0.8),
    "product:original_price:amount": ("regular_price", 0.75),
    "og:price:standard_amount": ("regular_price", 0.75),
    "product:availability": ("availability", 0.7),
    "og:availability": ("availability", 0.7),
    "product:brand": ("brand", 0.7),
    "og:brand": ("brand", 0.7),
    "product:retailer_item_id": ("sku", 0.6),
    "product:sku": ("sku", 0.7),
    "product:mfr_part_no": ("mpn", 0.7),
    "product:upc": ("gtin", 0.7),
    "product:ean": ("gtin", 0.7),
    "product:gtin": ("gtin", 0.7),
    "product:category": ("category", 0.5),
    "og:title": ("name", 0.55),
    "twitter:title": ("name", 0.45),
    "og:image": ("images", 0.6),
    "og:image:secure_url": ("images", 0.6),
    "twitter:image": ("images", 0.5),
    "og:description": ("description", 0.55),
    "description": ("description", 0.4),
}
_ITEMPROP: dict[str, str] = {
    "name": "name",
    "price": "price",
    "lowprice": "price",
    "pricecurrency": "currency",
    "availability": "availability",
    "sku": "sku",
    "productid": "sku",
    "mpn": "mpn",
    "brand": "brand",
    "image": "images",
    "description": "description",
    **{key: "gtin" for key in ("gtin", "gtin8", "gtin12", "gtin13", "gtin14")},
}
_LOOSE_ITEMPROP = lxml.etree.XPath("//*[@itemprop and not(ancestor-or-self::*[@itemscope])]")


def meta_evidence(page: Page) -> Iterator[Evidence]:
    """``<meta>`` tags of Open Graph, Facebook's product tags and Twitter, and ``itemprop``
    attributes that no microdata scope holds (which extruct does not read)."""
    seen: set[str] = set()
    labels: dict[str, str] = {}
    for meta in page.tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if not key or not content:
            continue
        if key.startswith("twitter:label"):
            labels[key.replace("label", "data")] = content.lower()
            continue
        if key.startswith("twitter:data") and "price" in labels.get(key, ""):
            yield from _typed("price", content, "meta", 0.6, page)
            yield from _typed("currency", content, "meta", 0.5, page)
            continue
        if key in _META and key not in seen:
            seen.add(key)
            field, weight = _META[key]
            yield from _typed(field, content, "meta", weight, page)
    for el in _LOOSE_ITEMPROP(page.tree):
        loose = _ITEMPROP.get((el.get("itemprop") or "").strip().lower())
        if loose is None:
            continue
        value = el.get("content") or el.get("href") or el.get("src") or el.text_content()
        yield from _typed(loose, value, "meta", 0.7, page)


def _typed(field: str, value: Any, source: str, weight: float, page: Page) -> Iterator[Evidence]:
    """Evidence for ``field`` from a raw value, converted to the field's type (none if it does not read)."""
    converted: str | float | tuple[str, ...] | None
    if field in ("price", "regular_price"):
        converted = _price(value)
    elif field == "currency":
        converted = _currency(_plain(value), page)
    elif field == "availability":
        converted = _availability(value if isinstance(value, bool) else _plain(value))
    elif field == "gtin":
        converted = _gtin(value)
    elif field == "images":
        converted = _images(value, page.url) or None
    elif field == "category":
        converted = _leaf_category(value)
    else:
        converted = _plain(value)
    if converted is not None:
        yield Evidence(field, converted, source, weight)


# -- embedded state --------------------------------------------------------------------

_STATE_KEYS: dict[str, tuple[str, ...]] = {
    "sku": ("sku", "SKU", "productSku", "item_id", "skuId", "articleNumber"),
    "gtin": ("gtin", "gtin13", "ean", "barcode", "upc", "gtin12", "gtin14"),
    "mpn": ("mpn", "manufacturerPartNumber"),
    "brand": ("brand", "vendor", "item_brand", "brandName", "manufacturer"),
    "description": ("description", "body_html", "shortDescription", "short_description"),
    "category": ("category", "item_category", "categoryName", "primaryCategory"),
    "images": ("images", "image", "featured_image", "imageUrl", "image_url", "media", "mainImage"),
    "availability": (
        "availability",
        "available",
        "inStock",
        "in_stock",
        "stockStatus",
        "is_in_stock",
        "availableForSale",
        "stock_status",
    ),
}


def state_evidence(page: Page) -> Iterator[Evidence]:
    """The product-shaped object in the page's embedded JSON whose name fits the page's."""
    objects = state.product_objects(state.script_documents(page.tree))
    if not objects:
        return
    fits = [
        (
            visible.similarity(
                _plain(state.first_of(o.data, state.NAME_KEYS)) or "", page.name_hint or ""
            ),
            -o.order,
            o,
        )
        for o in objects
    ]
    best = max(f[0] for f in fits)
    if best < 0.3 and len(objects) > 1:
        return  # many products, none of them this page's: a listing or a recommendations feed
    weight = 0.8 if best >= 0.3 else 0.55
    merged = [o for fit, _, o in sorted(fits, key=lambda f: (-f[0], -f[1])) if fit == best]
    for found in merged[:3]:
        yield from _state_product(found, weight, page)


def _state_product(found: state.StateObject, weight: float, page: Page) -> Iterator[Evidence]:
    data = found.data
    yield from _typed("name", state.first_of(data, state.NAME_KEYS), "state", weight * 0.9, page)
    variant = _first_variant(data)
    for field, keys in _STATE_KEYS.items():
        value = state.first_of(data, keys)
        if value is None and variant is not None:
            value = state.first_of(variant, keys)
        if value is not None:
            yield from _typed(field, value, "state", weight * 0.85, page)
    currency = _currency_in(data) or found.currency
    if currency:
        yield from _typed("currency", currency, "state", weight, page)
    for field, keys in (("price", state.PRICE_KEYS), ("regular_price", state.REGULAR_KEYS)):
        value = _amount(state.first_of(data, keys))
        if value is None and variant is not None:
            value = _amount(state.first_of(variant, keys))
        if value is None and isinstance(data.get("offers"), Mapping | list) and field == "price":
            offers = data["offers"] if isinstance(data["offers"], list) else [data["offers"]]
            value = (
                _amount(state.first_of(offers[0], keys))
                if offers and isinstance(offers[0], Mapping)
                else None
            )
        yield from _amounts(field, value, weight, _in_cents(data))


def _first_variant(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for key in (
        "selected_or_first_available_variant",
        "selectedVariant",
        "variants",
        "skus",
        "items",
    ):
        value = data.get(key)
        value = value[0] if isinstance(value, list) and value else value
        if isinstance(value, Mapping):
            return value
    return None


def _currency_in(data: Mapping[str, Any]) -> str | None:
    for key in ("currency", "currencyCode", "priceCurrency", "currency_code"):
        value = data.get(key)
        if isinstance(value, str) and len(value) == 3:
            return value
    for key in state.PRICE_KEYS:
        value = data.get(key)
        if isinstance(value, Mapping):
            found = _currency_in(value)
            if found:
                return found
    return None


def _amount(value: Any) -> Any:
    """A price that may be wrapped: ``{"amount": "12.50"}``, ``{"value": 12.5}``, Shopify's
    ``priceRange.minVariantPrice.amount``."""
    for _ in range(3):
        if not isinstance(value, Mapping):
            return value
        value = state.first_of(
            value,
            ("amount", "value", "raw", "current", "price", "minVariantPrice", "min", "centAmount"),
        )
    return value


_CENT_KEYS = frozenset(("centAmount", "compare_at_price", "price_min", "price_max", "cents"))


def _in_cents(data: Mapping[str, Any]) -> bool:
    """Whether the object carries keys only prices in cents come with (Shopify's product
    JSON, commercetools' ``centAmount``)."""
    nested = [v for v in data.values() if isinstance(v, Mapping)]
    return any(key in _CENT_KEYS for item in (data, *nested) for key in item)


def _amounts(field: str, value: Any, weight: float, cents: bool) -> Iterator[Evidence]:
    """An amount from state; an integer of 100 or more may be in cents (Shopify writes
    ``2999`` for $29.99), so both readings are offered and the other sources decide; alone,
    the cents reading wins only beside keys that mean cents."""
    amount = _price(value)
    if amount is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= 100:
        yield Evidence(field, amount, "state", weight * (0.5 if cents else 0.55))
        yield Evidence(field, amount / 100, "state", weight * (0.55 if cents else 0.45))
    else:
        yield Evidence(field, amount, "state", weight)


# -- the visible page ------------------------------------------------------------------


def visible_evidence(page: Page) -> Iterator[Evidence]:
    """Prices scored on the page's features, the heading, breadcrumb, picture, SKU and stock words."""
    elements = visible.elements_in_order(page.tree)
    marks = visible.landmarks(elements, page.name_hint)
    if marks.heading_text:
        yield Evidence("name", marks.heading_text, "visible", 0.6)
    candidates = visible.price_candidates(elements)
    scored = sorted(((visible.score(c, marks), c) for c in candidates), key=lambda s: -s[0])
    # an "old" price (struck, "was", "regular") is the price when nothing current stands beside it
    ranked = sorted(
        ((s, c) for s, c in scored if not c.in_grid),
        key=lambda s: -(s[0] * (0.35 if s[1].old else 1.0)),
    )
    if ranked and ranked[0][0] * (0.35 if ranked[0][1].old else 1.0) >= MIN_VISIBLE:
        chance, best = ranked[0][0] * (0.35 if ranked[0][1].old else 1.0), ranked[0][1]
        yield Evidence("price", best.amount, "visible", 0.75 * chance)
        if best.currency:
            yield Evidence(
                "currency", _currency(best.text, page) or best.currency, "visible", 0.6 * chance
            )
    current = {round(c.amount, 2) for s, c in scored if not c.old and s >= 0.3}
    for s, candidate in scored:
        if (
            candidate.old
            and not candidate.in_grid
            and not candidate.noise
            and round(candidate.amount, 2) not in current
        ):
            yield Evidence("regular_price", candidate.amount, "visible", 0.7 * s)
            if current:
                yield Evidence(
                    "price", candidate.amount, "visible", min(0.9, 0.8 * s + 0.3), against=True
                )
    category = visible.breadcrumb(page.tree, marks.heading_text or page.name_hint)
    if category:
        yield Evidence("category", category, "visible", 0.55)
    image = visible.main_image(page.tree, elements, marks)
    if image:
        images = _images(image, page.url)
        if images:
            yield Evidence("images", images, "visible", 0.45)
    near = visible.near_product(elements, marks)
    text = visible.description(near)
    if text:
        yield Evidence("description", text, "visible", 0.4)
    maker = visible.brand(near)
    if maker:
        yield Evidence("brand", maker, "visible", 0.4)
    if page.region in _REGION_CURRENCIES:  # the locale's currency, when nothing else says one
        yield Evidence("currency", _REGION_CURRENCIES[page.region], "visible", 0.2)
    yield from _visible_words(elements, marks)


def _visible_words(elements: list[HtmlElement], marks: visible.Landmarks) -> Iterator[Evidence]:
    """Stock words and a written SKU near the buy button or heading."""
    anchor = marks.buy if marks.buy is not None else marks.heading
    if anchor is None:
        return
    window = elements[max(0, anchor - 40) : anchor + 40]
    for el in window:
        text = visible.clean_text(el.text or "")
        if not text or len(text) > 80:
            continue
        for pattern, name in _AVAILABILITY_TEXT:
            if pattern.search(text):
                yield Evidence("availability", name, "visible", 0.5)
                break
        match = _SKU_TEXT.search(text)
        if match:
            yield Evidence("sku", match.group(1), "visible", 0.5)
    if marks.buy is not None:
        button = elements[marks.buy]
        if button.get("disabled") is not None:
            yield Evidence("availability", "OutOfStock", "visible", 0.45)
