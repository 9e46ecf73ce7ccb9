"""The demo site's content: products, offers per day, reviews, articles and tables.

Everything is generated from a seed, so the same ``(seed, scale)`` gives the same shop
and magazine on every run, and the same ``day`` gives the same prices, stock and
reviews. Every record draws from its own random stream (keyed by seed and id), so a
larger ``scale`` keeps the smaller site's records and adds more.

Day 1 is the baseline. Each later day moves about a quarter of the prices, re-rolls
some stock levels, adds reviews, and makes a few products appear or disappear.
"""

from __future__ import annotations

import html
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from markupsafe import escape

from demo_site import text
from demo_site.words import BOOK_NOUNS, CATEGORIES, SECTIONS, CategoryWords, SectionWords

DAY_ONE = date(2025, 3, 1)  # the calendar date of day 1
PRODUCTS_PER_SCALE = 480
ARTICLES_PER_SCALE = 300
FIRST_PRODUCT_ID = 1001
AVAILABILITIES = ("InStock", "OutOfStock", "LimitedAvailability", "PreOrder")
ENTITY_TAILS = (
    " Now with free returns&nbsp;&mdash; no questions asked.",
    " Caf&eacute;-grade results at home&trade;.",
    " Spare parts at &frac12; price for members.",
    " Rated &#9733;&#9733;&#9733;&#9733;&#9733; by our staff &amp; friends.",
)


def rng_for(seed: int, *parts: object) -> random.Random:
    """A random stream of its own for one record: the same parts give the same numbers."""
    return random.Random("/".join(str(p) for p in (seed, *parts)))


def money(value: float | Decimal, cents: str = "99") -> Decimal:
    """A shop price near ``value`` ending in ``cents`` (``"00"`` keeps whole units)."""
    whole = max(int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)), 1)
    if cents == "99":
        return Decimal(whole) - Decimal("0.01")
    return Decimal(f"{whole}.{cents}")


def date_of(day: int) -> date:
    """The calendar date the site shows on ``day``."""
    return DAY_ONE + timedelta(days=day - 1)


@dataclass(frozen=True)
class Product:
    """A product's lasting facts; what moves by day is in :class:`Offer`."""

    id: int
    slug: str
    category: str  # category slug
    title: str
    brand: str | None  # None: the page has no brand (a missing field)
    sku: str
    gtin: str | None
    description_html: str | None  # escaped HTML, some with raw entities; None: missing
    specs: tuple[tuple[str, str], ...]
    currency: str | None  # USD, EUR or GBP; None: "Price on request"
    from_price: bool  # shown as "from £12": an AggregateOffer with a low and high price
    base_price: Decimal
    cents: str  # how its prices end: "99", "00", "50", "95"
    first_day: int  # the first day it is on sale
    last_day: int | None  # the last day it is on sale; None: never leaves
    duplicate: bool  # also served at /shop/p/<id>, with a canonical link
    brand_as_text: bool  # JSON-LD brand is a plain string instead of a Brand object
    initial_reviews: int

    @property
    def path(self) -> str:
        return f"/shop/product/{self.id}-{self.slug}"

    @property
    def alt_path(self) -> str:
        return f"/shop/p/{self.id}"

    @property
    def image_path(self) -> str:
        return f"/images/products/{self.id}.png"

    @property
    def description_text(self) -> str | None:
        """The description as a reader sees it (entities decoded)."""
        return None if self.description_html is None else html.unescape(self.description_html)

    def on_sale(self, day: int) -> bool:
        """Whether the shop lists this product on ``day``."""
        return self.first_day <= day and (self.last_day is None or day <= self.last_day)


@dataclass(frozen=True)
class Offer:
    """A product's price, stock and review count on one day."""

    price: Decimal | None  # the price, or the low price of a "from" product
    high_price: Decimal | None  # only for "from" products
    was_price: Decimal | None  # a struck-through earlier price: the product is on sale
    availability: str  # a schema.org ItemAvailability name, e.g. InStock
    review_days: tuple[int, ...]  # the days on which reviews after day 1 were written


@dataclass(frozen=True)
class Review:
    id: str
    product_id: int
    author: str
    rating: int
    title: str
    body: str
    published: date


@dataclass(frozen=True)
class Author:
    slug: str
    name: str
    section: str

    @property
    def path(self) -> str:
        return f"/magazine/author/{self.slug}/"


@dataclass(frozen=True)
class Block:
    """One block of an article body: a paragraph, a subheading or a pull quote."""

    kind: str  # "p", "h2" or "blockquote"
    text: str


@dataclass(frozen=True)
class Article:
    id: int
    slug: str
    section: str
    title: str
    author: Author
    published: date
    dek: str  # the standfirst under the headline
    body: tuple[Block, ...]
    related: tuple[int, ...]  # ids of other articles in the section

    @property
    def path(self) -> str:
        return f"/magazine/article/{self.id}-{self.slug}"

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(block.text for block in self.body if block.kind == "p")


@dataclass(frozen=True)
class HeaderCell:
    text: str
    colspan: int = 1
    rowspan: int = 1


@dataclass(frozen=True)
class DataTable:
    """An HTML data table: header rows (with spans), body rows, first column a row header or not."""

    id: str
    caption: str
    header: tuple[tuple[HeaderCell, ...], ...]
    rows: tuple[tuple[str, ...], ...]
    row_headers: bool = False


def _product(seed: int, index: int) -> Product:
    product_id = FIRST_PRODUCT_ID + index
    rng = rng_for(seed, "product", product_id)
    category = rng.choices(CATEGORIES, weights=[c.weight for c in CATEGORIES])[0]
    product_type = rng.choice(category.types)
    adjective = rng.choice(category.adjectives)
    brand = rng.choice(category.brands)
    if category.slug == "books":
        title = f"The {adjective} {rng.choice(BOOK_NOUNS)} ({product_type})"
    elif rng.random() < 0.15 and category.slug in ("kitchen", "outdoor"):
        title = f'{adjective} {product_type}, {rng.choice((10, 12, 14))}"'
    else:
        title = f"{adjective} {product_type}"
    description_html: str | None = str(escape(" ".join(text.product_sentences(rng, category))))
    if rng.random() < 0.2:
        description_html = f"{description_html}{rng.choice(ENTITY_TAILS)}"
    if rng.random() < 0.05:
        description_html = None
    low, high = category.price_range
    currency_roll = rng.random()
    currency: str | None = (
        "USD" if currency_roll < 0.7 else "EUR" if currency_roll < 0.88 else "GBP"
    )
    from_price = currency == "GBP" and rng.random() < 0.75
    if rng.random() < 0.02:
        currency, from_price = None, False
    cents = "00" if from_price else rng.choice(("99", "99", "00", "50", "95"))
    base = low * (high / low) ** rng.random()  # log-uniform: many cheap things, a few dear ones
    lifecycle = rng.random()
    first_day = rng.randint(2, 8) if lifecycle < 0.04 else 1
    last_day = rng.randint(1, 7) if 0.04 <= lifecycle < 0.07 else None
    return Product(
        id=product_id,
        slug=text.slugify(title),
        category=category.slug,
        title=title,
        brand=None if rng.random() < 0.08 else brand,
        sku=f"HV-{category.slug[:3].upper()}-{product_id:05d}",
        gtin=None if rng.random() < 0.4 else f"40{rng.randrange(10**10, 10**11):011d}",
        description_html=description_html,
        specs=_specs(rng, category),
        currency=currency,
        from_price=from_price,
        base_price=money(base, cents),
        cents=cents,
        first_day=first_day,
        last_day=last_day,
        duplicate=rng.random() < 0.05,
        brand_as_text=rng.random() < 0.3,
        initial_reviews=rng.choice((0, 0, 1, 2, 3, 3, 4, 5, 6, 8)),
    )


def _specs(rng: random.Random, category: CategoryWords) -> tuple[tuple[str, str], ...]:
    specs = [("Colour", rng.choice(("Black", "Slate", "Sand", "Forest", "Red", "Natural")))]
    specs.append(("Weight", f"{rng.randint(1, 40) * 50} g"))
    specs.append(("Highlights", ", ".join(rng.sample(category.features, k=2))))
    return tuple(specs)


def _first_offer(seed: int, product: Product) -> Offer:
    rng = rng_for(seed, "offer", product.id, 1)
    availability = rng.choices(AVAILABILITIES, weights=(80, 11, 6, 3))[0]
    price = None if product.currency is None else product.base_price
    was = None
    if price is not None and not product.from_price and rng.random() < 0.08:
        was = money(float(price) * rng.uniform(1.1, 1.4), product.cents)
    return Offer(
        price=price,
        high_price=_high(price) if product.from_price else None,
        was_price=was,
        availability=availability,
        review_days=(),
    )


def _high(low: Decimal | None) -> Decimal | None:
    return None if low is None else money(float(low) * 1.6, "00")


def _next_offer(seed: int, product: Product, offer: Offer, day: int) -> Offer:
    """The offer on ``day``, given the offer the day before."""
    rng = rng_for(seed, "offer", product.id, day)
    price, was = offer.price, offer.was_price
    if price is not None and rng.random() < 0.25:
        new = money(float(price) * rng.uniform(0.82, 1.15), product.cents)
        if new == price:
            new = price + Decimal(1)
        was = price if new < price and not product.from_price and rng.random() < 0.5 else None
        price = new
    availability = offer.availability
    if rng.random() < 0.12:
        availability = rng.choices(AVAILABILITIES, weights=(70, 20, 7, 3))[0]
    review_days = offer.review_days + ((day,) if rng.random() < 0.3 else ())
    return replace(
        offer,
        price=price,
        high_price=_high(price) if product.from_price else None,
        was_price=was,
        availability=availability,
        review_days=review_days,
    )


def _review(seed: int, product: Product, index: int, published: date) -> Review:
    rng = rng_for(seed, "review", product.id, index)
    rating = rng.choices((1, 2, 3, 4, 5), weights=(6, 8, 14, 32, 40))[0]
    title, body = text.review_text(rng, rating, category_words(product.category))
    return Review(
        id=f"{product.id}-{index + 1}",
        product_id=product.id,
        author=text.reviewer(rng),
        rating=rating,
        title=title,
        body=body,
        published=published,
    )


def category_words(slug: str) -> CategoryWords:
    """The category with this slug."""
    return next(c for c in CATEGORIES if c.slug == slug)


def section_words(slug: str) -> SectionWords:
    """The magazine section with this slug."""
    return next(s for s in SECTIONS if s.slug == slug)


def _authors(seed: int) -> tuple[Author, ...]:
    authors: list[Author] = []
    taken: set[str] = set()
    for section in SECTIONS:
        rng = rng_for(seed, "authors", section.slug)
        while sum(a.section == section.slug for a in authors) < 3:
            name = text.person(rng)
            if name not in taken:
                taken.add(name)
                authors.append(Author(slug=text.slugify(name), name=name, section=section.slug))
    return tuple(authors)


def _article(seed: int, article_id: int, authors: tuple[Author, ...]) -> Article:
    rng = rng_for(seed, "article", article_id)
    section = rng.choices(SECTIONS, weights=[s.weight for s in SECTIONS])[0]
    title = text.headline(rng, section)
    body: list[Block] = []
    for index in range(rng.randint(4, 9)):
        if index and rng.random() < 0.2:
            body.append(Block("h2", text.subheading(rng, section)))
        body.append(Block("p", text.paragraph(rng, section)))
        if index == 1 and rng.random() < 0.3:
            body.append(
                Block("blockquote", text.paragraph(rng, section).split(". ")[0].rstrip(".") + ".")
            )
    start = date(2023, 6, 1)
    return Article(
        id=article_id,
        slug=text.slugify(title),
        section=section.slug,
        title=title,
        author=rng.choice([a for a in authors if a.section == section.slug]),
        published=start + timedelta(days=rng.randrange((DAY_ONE - start).days)),
        dek=text.paragraph(rng, section).split(". ")[0].rstrip(".") + ".",
        body=tuple(body),
        related=(),
    )


def _with_related(seed: int, articles: list[Article]) -> tuple[Article, ...]:
    by_section: dict[str, list[int]] = {}
    for article in articles:
        by_section.setdefault(article.section, []).append(article.id)
    result = []
    for article in articles:
        others = [i for i in by_section[article.section] if i != article.id]
        picked = rng_for(seed, "related", article.id).sample(others, k=min(4, len(others)))
        result.append(replace(article, related=tuple(picked)))
    return tuple(result)


def _tables(seed: int) -> tuple[DataTable, ...]:
    rng = rng_for(seed, "tables")
    quarters = tuple(HeaderCell(q) for q in ("Q1", "Q2", "Q3", "Q4", "Q1", "Q2"))
    sales = DataTable(
        id="sales",
        caption="Units sold by category and quarter",
        header=(
            (
                HeaderCell("Category", rowspan=2),
                HeaderCell("2024", colspan=4),
                HeaderCell("2025", colspan=2),
            ),
            quarters,
        ),
        rows=tuple(
            (c.name, *(f"{rng.randint(800, 25000):,}" for _ in range(6))) for c in CATEGORIES
        ),
    )
    shipping = DataTable(
        id="shipping",
        caption="Shipping rates",
        header=(
            (
                HeaderCell("Region"),
                HeaderCell("Standard"),
                HeaderCell("Express"),
                HeaderCell("Free over"),
            ),
        ),
        rows=(
            ("United States", "$4.95", "$14.95", "$50"),
            ("Canada", "$7.95", "$19.95", "$75"),
            ("European Union", "4,95 €", "12,90 €", "60 €"),
            ("United Kingdom", "£3.95", "£9.95", "£40"),
            ("Rest of world", "$14.95", "$39.95", "—"),
        ),
    )
    hours = DataTable(
        id="hours",
        caption="Store opening hours",
        header=(
            (
                HeaderCell("Store", rowspan=2),
                HeaderCell("Weekdays", colspan=2),
                HeaderCell("Weekend", colspan=2),
            ),
            (HeaderCell("Opens"), HeaderCell("Closes"), HeaderCell("Opens"), HeaderCell("Closes")),
        ),
        rows=(
            ("Portland", "09:00", "19:00", "10:00", "17:00"),
            ("Leeds", "08:30", "18:30", "10:00", "16:00"),
            ("Lyon", "09:30", "19:30", "closed", "closed"),
            ("Hamburg", "10:00", "20:00", "10:00", "18:00"),
        ),
    )
    ratings = DataTable(
        id="ratings",
        caption="Sleeping bag temperature ratings (°C)",
        header=(
            (
                HeaderCell("Model"),
                HeaderCell("Comfort"),
                HeaderCell("Limit"),
                HeaderCell("Extreme"),
            ),
        ),
        rows=tuple(
            (name, str(comfort), str(comfort - 5), str(comfort - 15))
            for name, comfort in (
                ("Northpeak Lite", 8),
                ("Trailwise 3S", 2),
                ("Fjällgear Arctic", -7),
            )
        ),
        row_headers=True,
    )
    return (sales, shipping, hours, ratings)


@dataclass(frozen=True)
class ShopDay:
    """The shop as it stands on one day."""

    day: int
    date: date
    offers: dict[int, Offer]  # by product id, for every product in the pool
    products: tuple[Product, ...]  # on sale this day, by id
    by_category: dict[str, tuple[Product, ...]]  # on sale this day, by category slug and id

    def in_category(self, slug: str) -> tuple[Product, ...]:
        return self.by_category.get(slug, ())


def _shop_day(day: int, offers: dict[int, Offer], pool: tuple[Product, ...]) -> ShopDay:
    products = tuple(p for p in pool if p.on_sale(day))
    by_category: dict[str, list[Product]] = {}
    for product in products:
        by_category.setdefault(product.category, []).append(product)
    grouped = {slug: tuple(items) for slug, items in by_category.items()}
    return ShopDay(day, date_of(day), offers, products, grouped)


class DemoData:
    """The generated site for one seed and scale; days are computed on first use and kept."""

    def __init__(self, seed: int = 7, scale: int = 1) -> None:
        if scale < 1:
            raise ValueError("scale must be at least 1")
        self.seed = seed
        self.scale = scale
        self._days: dict[int, ShopDay] = {}

    @cached_property
    def pool(self) -> tuple[Product, ...]:
        """Every product that is on sale on some day."""
        return tuple(_product(self.seed, i) for i in range(PRODUCTS_PER_SCALE * self.scale))

    @cached_property
    def products_by_id(self) -> dict[int, Product]:
        return {p.id: p for p in self.pool}

    @cached_property
    def authors(self) -> tuple[Author, ...]:
        return _authors(self.seed)

    @cached_property
    def articles(self) -> tuple[Article, ...]:
        """Every article, newest first."""
        count = ARTICLES_PER_SCALE * self.scale
        articles = [_article(self.seed, i, self.authors) for i in range(1, count + 1)]
        articles.sort(key=lambda a: (a.published, a.id), reverse=True)
        return _with_related(self.seed, articles)

    @cached_property
    def articles_by_id(self) -> dict[int, Article]:
        return {a.id: a for a in self.articles}

    @cached_property
    def tables(self) -> tuple[DataTable, ...]:
        return _tables(self.seed)

    def day(self, day: int) -> ShopDay:
        """The shop on ``day`` (1 or later)."""
        if day < 1:
            raise ValueError("day must be 1 or later")
        known = max((d for d in self._days if d <= day), default=0)
        for current in range(known + 1, day + 1):
            if current == 1:
                offers = {p.id: _first_offer(self.seed, p) for p in self.pool}
            else:
                before = self._days[current - 1].offers
                offers = {p.id: _next_offer(self.seed, p, before[p.id], current) for p in self.pool}
            self._days[current] = _shop_day(current, offers, self.pool)
        return self._days[day]

    def reviews(self, product: Product, day: int) -> tuple[Review, ...]:
        """The product's reviews as of ``day``, oldest first."""
        rng = rng_for(self.seed, "review-dates", product.id)
        dates = sorted(
            DAY_ONE - timedelta(days=rng.randint(1, 400)) for _ in range(product.initial_reviews)
        )
        dates += [date_of(d) for d in self.day(day).offers[product.id].review_days]
        return tuple(_review(self.seed, product, i, published) for i, published in enumerate(dates))

    def articles_in(self, section: str) -> tuple[Article, ...]:
        return tuple(a for a in self.articles if a.section == section)
