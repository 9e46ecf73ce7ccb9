"""HTML and JSON of the demo site's pages, rendered from :mod:`~demo_site.model`.

:class:`Pages` knows nothing about HTTP: each method takes the site's origin (for
absolute URLs), the day and the page's parameters, and returns the body, or ``None``
when there is no such page. The aiohttp app in :mod:`~demo_site.app` maps
routes onto these methods.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial

from jinja2 import Environment, PackageLoader, select_autoescape

from demo_site import formats
from demo_site.model import Article, DemoData, Product, date_of, rng_for
from demo_site.words import CATEGORIES, SECTIONS

PRODUCTS_PER_PAGE = 24
ARTICLES_PER_PAGE = 20
FEED_BATCH = 20
DISALLOWED = ("/private/", "/_admin/")
EVENT_TITLES = (
    "Knife skills workshop",
    "Tent pitching clinic",
    "Vinyl listening night",
    "Author reading",
    "Kids' building morning",
    "Seed swap",
    "Late opening",
)


Render = Callable[[str, int], "str | None"]  # (origin, day) -> the page, or None


@dataclass(frozen=True)
class Crawlable:
    """A page a crawler should find, and how to render it."""

    path: str  # path and query, as a crawler requests it
    render: Render
    lastmod: str | None = None


@dataclass(frozen=True)
class Listing:
    """One page of a paginated list."""

    page: int
    pages: int
    first: int  # 1-based position of the first item shown
    last: int
    total: int


def paginate(total: int, page: int, per_page: int) -> Listing | None:
    """Where ``page`` falls in a list of ``total`` items; ``None`` when it does not exist."""
    pages = max(1, math.ceil(total / per_page))
    if not 1 <= page <= pages:
        return None
    first = (page - 1) * per_page
    return Listing(page, pages, first + 1, min(first + per_page, total), total)


def page_urls(base: str) -> Callable[[int], str]:
    """Page links of a listing at ``base``: page 1 is the bare URL, others add ``?page=N``."""
    return lambda number: base if number == 1 else f"{base}?page={number}"


class Pages:
    """Renders every page of one generated site."""

    def __init__(self, data: DemoData) -> None:
        self.data = data
        self.env = Environment(
            loader=PackageLoader("demo_site", "templates"),
            autoescape=select_autoescape(("html", "xml")),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(
            categories=CATEGORIES,
            sections=SECTIONS,
            section_names={s.slug: s.name for s in SECTIONS},
            price_text=formats.price_text,
            amount=formats.amount,
            plain=formats.plain,
            availability_label=formats.availability_label,
            availability_class=formats.availability_class,
            long_date=formats.long_date,
        )

    def _render(self, template: str, origin: str, **context: object) -> str:
        return self.env.get_template(template).render(origin=origin, **context)

    @cached_property
    def most_read(self) -> tuple[Article, ...]:
        return tuple(rng_for(self.data.seed, "most-read").sample(self.data.articles, k=5))

    # The shop.

    def home(self, origin: str, day: int) -> str:
        shop = self.data.day(day)
        step = max(1, len(shop.products) // 8)
        organization = {
            "@context": "https://schema.org",
            "@type": "Organization",
            "name": "Harvest Demo Ltd",
            "url": origin + "/",
        }
        return self._render(
            "home.html",
            origin,
            canonical="/",
            product_count=len(shop.products),
            featured=shop.products[::step][:8],
            offers=shop.offers,
            latest=self.data.articles[:5],
            organization_jsonld=formats.script_json(organization),
        )

    def shop_index(self, origin: str, day: int) -> str:
        shop = self.data.day(day)
        departments = []
        for category in CATEGORIES:
            products = shop.in_category(category.slug)
            departments.append((category, len(products), products[0] if products else None))
        return self._render("shop_index.html", origin, canonical="/shop/", departments=departments)

    def category(self, origin: str, day: int, slug: str, page: int) -> str | None:
        category = next((c for c in CATEGORIES if c.slug == slug), None)
        if category is None:
            return None
        shop = self.data.day(day)
        products = shop.in_category(slug)
        listing = paginate(len(products), page, PRODUCTS_PER_PAGE)
        if listing is None:
            return None
        base = f"/shop/{slug}/"
        return self._render(
            "category.html",
            origin,
            canonical=page_urls(base)(page),
            category=category,
            products=products[listing.first - 1 : listing.last],
            offers=shop.offers,
            picks=[p for p in products if p.duplicate] if page == 1 else [],
            page_url=page_urls(base),
            page=page,
            pages=listing.pages,
            first=listing.first,
            last=listing.last,
            total=listing.total,
        )

    def product(self, origin: str, day: int, product: Product) -> str:
        """A product page (also served, with the same canonical link, at its second URL)."""
        shop = self.data.day(day)
        offer = shop.offers[product.id]
        category = next(c for c in CATEGORIES if c.slug == product.category)
        siblings = shop.in_category(product.category)
        at = siblings.index(product)
        related = [siblings[(at + k) % len(siblings)] for k in range(1, min(5, len(siblings)))]
        trail = [
            ("Shop", "/shop/"),
            (category.name, f"/shop/{category.slug}/"),
            (product.title, product.path),
        ]
        return self._render(
            "product.html",
            origin,
            canonical=product.path,
            product=product,
            offer=offer,
            offers=shop.offers,
            category=category,
            related=related,
            product_jsonld=formats.script_json(
                formats.product_jsonld(product, offer, category, origin)
            ),
            breadcrumbs_jsonld=formats.script_json(formats.breadcrumbs_jsonld(trail, origin)),
        )

    def reviews(self, day: int, product: Product) -> dict[str, object]:
        """The JSON the product page's script fetches."""
        reviews = self.data.reviews(product, day)
        return {
            "product_id": product.id,
            "day": day,
            "count": len(reviews),
            "average": round(sum(r.rating for r in reviews) / len(reviews), 2) if reviews else None,
            "reviews": [
                {
                    "id": r.id,
                    "author": r.author,
                    "rating": r.rating,
                    "title": r.title,
                    "body": r.body,
                    "date": r.published.isoformat(),
                }
                for r in reviews
            ],
        }

    # The magazine.

    def magazine_index(self, origin: str) -> str:
        front = [(s, self.data.articles_in(s.slug)[:3]) for s in SECTIONS]
        return self._render(
            "magazine_index.html",
            origin,
            canonical="/magazine/",
            front=front,
            most_read=self.most_read,
        )

    def section(self, origin: str, slug: str, page: int) -> str | None:
        section = next((s for s in SECTIONS if s.slug == slug), None)
        if section is None:
            return None
        articles = self.data.articles_in(slug)
        listing = paginate(len(articles), page, ARTICLES_PER_PAGE)
        if listing is None:
            return None
        base = f"/magazine/{slug}/"
        return self._render(
            "section.html",
            origin,
            canonical=page_urls(base)(page),
            section=section,
            articles=articles[listing.first - 1 : listing.last],
            most_read=self.most_read,
            page_url=page_urls(base),
            page=page,
            pages=listing.pages,
        )

    def article(self, origin: str, article: Article) -> str:
        section = next(s for s in SECTIONS if s.slug == article.section)
        words = sum(len(block.text.split()) for block in article.body)
        return self._render(
            "article.html",
            origin,
            canonical=article.path,
            article=article,
            section=section,
            related=[self.data.articles_by_id[i] for i in article.related],
            most_read=self.most_read,
            reading_minutes=max(1, round(words / 200)),
            article_jsonld=formats.script_json(
                formats.article_jsonld(article, section.name, origin)
            ),
        )

    def author(self, origin: str, slug: str) -> str | None:
        author = next((a for a in self.data.authors if a.slug == slug), None)
        if author is None:
            return None
        articles = [a for a in self.data.articles if a.author == author]
        return self._render(
            "author.html",
            origin,
            canonical=author.path,
            author=author,
            articles=articles,
            most_read=self.most_read,
        )

    def infinite(self, origin: str) -> str:
        feed = self.feed(0, FEED_BATCH)
        return self._render(
            "infinite.html",
            origin,
            canonical="/magazine/infinite",
            articles=self.data.articles[:FEED_BATCH],
            next_url=feed["next"],
            most_read=self.most_read,
        )

    def feed(self, offset: int, limit: int) -> dict[str, object]:
        """One batch of the infinite-scroll feed, newest first."""
        articles = self.data.articles
        batch = articles[offset : offset + limit]
        names = {s.slug: s.name for s in SECTIONS}
        end = offset + len(batch)
        return {
            "offset": offset,
            "total": len(articles),
            "next": f"/api/articles?offset={end}&limit={limit}" if end < len(articles) else None,
            "items": [
                {
                    "id": a.id,
                    "title": a.title,
                    "url": a.path,
                    "section": names[a.section],
                    "author": a.author.name,
                    "published": a.published.isoformat(),
                    "published_text": formats.long_date(a.published),
                    "dek": a.dek,
                }
                for a in batch
            ],
        }

    # Everything else.

    def tables(self, origin: str) -> str:
        return self._render("tables.html", origin, canonical="/tables", tables=self.data.tables)

    def private(self, origin: str) -> str:
        return self._render("private.html", origin)

    def faults(self, origin: str) -> str:
        return self._render("faults.html", origin)

    def not_found(self, origin: str, message: str) -> str:
        return self._render("not_found.html", origin, message=message)

    def calendar(self, origin: str, year: int, month: int) -> str:
        previous = (year - 1, 12) if month == 1 else (year, month - 1)
        following = (year + 1, 1) if month == 12 else (year, month + 1)
        rng = rng_for(self.data.seed, "calendar", year, month)
        days = sorted(rng.sample(range(1, calendar.monthrange(year, month)[1] + 1), k=3))
        return self._render(
            "calendar.html",
            origin,
            year=year,
            month=month,
            month_name=calendar.month_name[month],
            prev=previous,
            next=following,
            prev_name=f"{calendar.month_name[previous[1]]} {previous[0]}",
            next_name=f"{calendar.month_name[following[1]]} {following[0]}",
            events=[(d, rng.choice(EVENT_TITLES)) for d in days],
        )

    def robots(self, origin: str) -> str:
        lines = [
            "User-agent: *",
            *(f"Disallow: {path}" for path in DISALLOWED),
            "",
            f"Sitemap: {origin}/sitemap.xml",
        ]
        return "\n".join(lines) + "\n"

    def crawlable(self, day: int) -> list[Crawlable]:
        """Every page a crawler should find on ``day``: listings, products on sale, articles."""
        today = date_of(day).isoformat()
        shop = self.data.day(day)
        found = [
            Crawlable("/", self.home),
            Crawlable("/shop/", self.shop_index, today),
            Crawlable("/magazine/", lambda origin, _day: self.magazine_index(origin)),
            Crawlable("/magazine/infinite", lambda origin, _day: self.infinite(origin)),
            Crawlable("/tables", lambda origin, _day: self.tables(origin)),
        ]
        for category in CATEGORIES:
            count = len(shop.in_category(category.slug))
            for number in range(1, max(1, math.ceil(count / PRODUCTS_PER_PAGE)) + 1):
                render = partial(self._category_page, category.slug, number)
                found.append(Crawlable(page_urls(f"/shop/{category.slug}/")(number), render, today))
        found += [Crawlable(p.path, partial(self._product_page, p), today) for p in shop.products]
        for section in SECTIONS:
            count = len(self.data.articles_in(section.slug))
            for number in range(1, max(1, math.ceil(count / ARTICLES_PER_PAGE)) + 1):
                render = partial(self._section_page, section.slug, number)
                found.append(Crawlable(page_urls(f"/magazine/{section.slug}/")(number), render))
        for article in self.data.articles:
            render = partial(self._article_page, article)
            found.append(Crawlable(article.path, render, article.published.isoformat()))
        for author in self.data.authors:
            found.append(Crawlable(author.path, partial(self._author_page, author.slug)))
        return found

    def _category_page(self, slug: str, page: int, origin: str, day: int) -> str | None:
        return self.category(origin, day, slug, page)

    def _product_page(self, product: Product, origin: str, day: int) -> str | None:
        return self.product(origin, day, product)

    def _section_page(self, slug: str, page: int, origin: str, _day: int) -> str | None:
        return self.section(origin, slug, page)

    def _article_page(self, article: Article, origin: str, _day: int) -> str | None:
        return self.article(origin, article)

    def _author_page(self, slug: str, origin: str, _day: int) -> str | None:
        return self.author(origin, slug)

    def sitemap(self, origin: str, day: int) -> str:
        """The sitemap: every crawlable page, with a last-modified date where there is one."""
        entries = [(page.path, page.lastmod) for page in self.crawlable(day)]
        return self._render("sitemap.xml", origin, entries=entries)
