"""The demo site as an aiohttp application: routes onto :class:`~demo_site.pages.Pages`.

:func:`create_app` builds it. The site's state (:class:`SiteState`) holds the day,
which can change while it runs (``POST /_admin/day?day=N``), a count of hits per path
(``GET /_admin/hits``) so tests can check what a crawler fetched, and a cache of
rendered pages so that serving is never what a benchmark measures.
"""

from __future__ import annotations

import json
import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from demo_site import faults
from demo_site.images import product_png
from demo_site.model import DemoData, Product
from demo_site.pages import Pages
from demo_site.words import CATEGORIES

CACHE_PAGES = 20_000
HTML = "text/html"


class SiteState:
    """What the running site remembers: data, day, hits, flaky counters, rendered pages."""

    def __init__(self, seed: int, day: int, scale: int) -> None:
        self.data = DemoData(seed=seed, scale=scale)
        self.pages = Pages(self.data)
        self.day = check_day(day)
        self.hits: Counter[str] = Counter()
        self.flaky: Counter[str] = Counter()
        self._rendered: OrderedDict[tuple[str, int, str], str] = OrderedDict()
        self._images: dict[int, bytes] = {}

    def page(self, request: web.Request, render: Callable[[str, int], str | None]) -> web.Response:
        """The page ``render(origin, day)`` makes, from the cache when it was made before."""
        body = self._cached(_origin(request), request.path_qs, render)
        if body is None:
            return self.not_found(request)
        return web.Response(text=body, content_type=HTML)

    def _cached(
        self, origin: str, path_qs: str, render: Callable[[str, int], str | None]
    ) -> str | None:
        key = (origin, self.day, path_qs)
        body = self._rendered.get(key)
        if body is None:
            body = render(origin, self.day)
            if body is not None:
                self._rendered[key] = body
                if len(self._rendered) > CACHE_PAGES:
                    self._rendered.popitem(last=False)
        return body

    def warm(self, origin: str) -> int:
        """Render every page of the sitemap, and every product image, for ``origin`` and today.

        Returns how many pages there are.
        """
        crawlable = self.pages.crawlable(self.day)
        for page in crawlable:
            self._cached(origin, page.path, page.render)
        for product in self.data.day(self.day).products:
            self.image(product)
        return len(crawlable)

    def not_found(
        self, request: web.Request, message: str = "There is no page at this address."
    ) -> web.Response:
        origin = _origin(request)
        return web.Response(
            status=404, text=self.pages.not_found(origin, message), content_type=HTML
        )

    def image(self, product: Product) -> bytes:
        if product.id not in self._images:
            category = next(c for c in CATEGORIES if c.slug == product.category)
            self._images[product.id] = product_png(self.data.seed, product.id, category)
        return self._images[product.id]


STATE = web.AppKey("state", SiteState)


def check_day(day: int) -> int:
    if day < 1:
        raise ValueError(f"day must be 1 or later, not {day}")
    return day


def _origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _state(request: web.Request) -> SiteState:
    return request.app[STATE]


def _page_number(request: web.Request) -> int | None:
    raw = request.query.get("page", "1")
    return int(raw) if re.fullmatch(r"[0-9]{1,6}", raw) else None


def _product_on_sale(request: web.Request, product_id: int) -> Product | None:
    state = _state(request)
    product = state.data.products_by_id.get(product_id)
    return product if product is not None and product.on_sale(state.day) else None


@web.middleware
async def count_hits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every request by path, and answer unknown paths with the site's 404 page."""
    if not request.path.startswith("/_admin/"):
        _state(request).hits[request.path] += 1
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _state(request).not_found(request)


async def home(request: web.Request) -> web.Response:
    return _state(request).page(request, _state(request).pages.home)


async def shop_index(request: web.Request) -> web.Response:
    return _state(request).page(request, _state(request).pages.shop_index)


async def category(request: web.Request) -> web.Response:
    state, slug, page = _state(request), request.match_info["category"], _page_number(request)
    if page is None:
        return state.not_found(request, "The page number must be a whole number.")
    return state.page(request, lambda origin, day: state.pages.category(origin, day, slug, page))


async def product(request: web.Request) -> web.Response:
    state = _state(request)
    found = _product_on_sale(request, int(request.match_info["id"]))
    if found is None:
        return state.not_found(request, "This product is no longer available.")
    if request.match_info["slug"] != found.slug:
        raise web.HTTPMovedPermanently(found.path)
    return state.page(request, lambda origin, day: state.pages.product(origin, day, found))


async def product_alias(request: web.Request) -> web.Response:
    state = _state(request)
    found = _product_on_sale(request, int(request.match_info["id"]))
    if found is None or not found.duplicate:
        return state.not_found(request, "This product is no longer available.")
    return state.page(request, lambda origin, day: state.pages.product(origin, day, found))


async def product_image(request: web.Request) -> web.Response:
    state = _state(request)
    found = state.data.products_by_id.get(int(request.match_info["id"]))
    if found is None:
        raise web.HTTPNotFound()
    return web.Response(body=state.image(found), content_type="image/png")


async def reviews(request: web.Request) -> web.Response:
    state = _state(request)
    found = _product_on_sale(request, int(request.match_info["id"]))
    if found is None:
        return web.json_response({"error": "no such product"}, status=404)
    return web.json_response(state.pages.reviews(state.day, found))


async def magazine(request: web.Request) -> web.Response:
    state = _state(request)
    return state.page(request, lambda origin, _day: state.pages.magazine_index(origin))


async def section(request: web.Request) -> web.Response:
    state, slug, page = _state(request), request.match_info["section"], _page_number(request)
    if page is None:
        return state.not_found(request, "The page number must be a whole number.")
    return state.page(request, lambda origin, _day: state.pages.section(origin, slug, page))


async def article(request: web.Request) -> web.Response:
    state = _state(request)
    found = state.data.articles_by_id.get(int(request.match_info["id"]))
    if found is None:
        return state.not_found(request, "There is no such article.")
    if request.match_info["slug"] != found.slug:
        raise web.HTTPMovedPermanently(found.path)
    return state.page(request, lambda origin, _day: state.pages.article(origin, found))


async def author(request: web.Request) -> web.Response:
    state, slug = _state(request), request.match_info["author"]
    return state.page(request, lambda origin, _day: state.pages.author(origin, slug))


async def infinite(request: web.Request) -> web.Response:
    state = _state(request)
    return state.page(request, lambda origin, _day: state.pages.infinite(origin))


async def feed(request: web.Request) -> web.Response:
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        return web.json_response({"error": "offset and limit must be whole numbers"}, status=400)
    if offset < 0 or not 1 <= limit <= 100:
        return web.json_response(
            {"error": "offset must be 0 or more and limit 1 to 100"}, status=400
        )
    return web.json_response(_state(request).pages.feed(offset, limit))


async def tables(request: web.Request) -> web.Response:
    state = _state(request)
    return state.page(request, lambda origin, _day: state.pages.tables(origin))


async def private(request: web.Request) -> web.Response:
    state = _state(request)
    return web.Response(text=state.pages.private(_origin(request)), content_type=HTML)


async def faults_index(request: web.Request) -> web.Response:
    state = _state(request)
    return web.Response(text=state.pages.faults(_origin(request)), content_type=HTML)


async def fault_calendar(request: web.Request) -> web.Response:
    state = _state(request)
    year, month = int(request.match_info["year"]), int(request.match_info["month"])
    if not 1 <= month <= 12 or not 1 <= year <= 9999:
        return state.not_found(request, "There is no such month.")
    return state.page(request, lambda origin, _day: state.pages.calendar(origin, year, month))


async def robots(request: web.Request) -> web.Response:
    return web.Response(text=_state(request).pages.robots(_origin(request)))


async def sitemap(request: web.Request) -> web.Response:
    state = _state(request)
    body = state.pages.sitemap(_origin(request), state.day)
    return web.Response(text=body, content_type="application/xml")


async def admin_day(request: web.Request) -> web.Response:
    """``GET``: the current day. ``POST ?day=N``: move the site to day N."""
    state = _state(request)
    if request.method == "POST":
        raw = request.query.get("day", "")
        if not raw.isdigit() or int(raw) < 1:
            return web.json_response({"error": "day must be a whole number, 1 or more"}, status=400)
        state.day = int(raw)
    return web.json_response({"day": state.day})


async def admin_warm(request: web.Request) -> web.Response:
    """``POST``: render every crawlable page now, so that no crawl pays for rendering."""
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    return web.json_response({"pages": _state(request).warm(_origin(request))})


async def admin_hits(request: web.Request) -> web.Response:
    """``GET``: requests per path since the start (or the last ``DELETE``)."""
    state = _state(request)
    if request.method == "DELETE":
        state.hits.clear()
    return web.Response(
        text=json.dumps(dict(state.hits), sort_keys=True), content_type="application/json"
    )


def _add_routes(app: web.Application, state: SiteState) -> None:
    get = app.router.add_get
    get("/", home)
    get("/shop/", shop_index)
    get("/shop", add_slash)
    get(r"/shop/product/{id:\d+}-{slug}", product)
    get(r"/shop/p/{id:\d+}", product_alias)
    get("/shop/{category}/", category)
    get("/shop/{category}", add_slash)
    get(r"/images/products/{id:\d+}.png", product_image)
    get(r"/api/reviews/{id:\d+}.json", reviews)
    get("/api/articles", feed)
    get("/magazine/", magazine)
    get("/magazine", add_slash)
    get("/magazine/infinite", infinite)
    get(r"/magazine/article/{id:\d+}-{slug}", article)
    get("/magazine/author/{author}/", author)
    get("/magazine/{section}/", section)
    get("/magazine/{section}", add_slash)
    get("/tables", tables)
    get("/robots.txt", robots)
    get("/sitemap.xml", sitemap)
    get("/private/", private)
    get("/private/{rest:.*}", private)
    get("/tests/faults", faults_index)
    get(r"/faults/status/{code:\d+}", faults.status)
    get(r"/faults/flaky/{token}/{n:\d+}", faults.flaky_handler(state.flaky))
    get("/faults/slow", faults.slow)
    get("/faults/drop", faults.drop)
    get("/faults/truncated", faults.truncated)
    get("/faults/redirect-loop", faults.redirect_loop)
    get("/faults/redirect-loop/back", faults.redirect_loop)
    get("/faults/redirect-endless", faults.redirect_endless)
    get(r"/faults/redirect/{n:\d+}", faults.redirect_chain)
    get(r"/faults/calendar/{year:\d{4}}/{month:\d{2}}", fault_calendar)
    get("/faults/huge", faults.huge)
    get("/faults/gzip-bomb", faults.gzip_bomb)
    app.router.add_route("*", "/_admin/day", admin_day)
    app.router.add_route("*", "/_admin/hits", admin_hits)
    app.router.add_route("*", "/_admin/warm", admin_warm)
    app.router.add_static("/static", Path(str(files("demo_site") / "static")))


async def add_slash(request: web.Request) -> web.Response:
    """Listings live at paths ending in a slash; send the slashless address there."""
    raise web.HTTPMovedPermanently(request.rel_url.with_path(request.path + "/").path_qs)


def create_app(seed: int = 7, day: int = 1, scale: int = 1) -> web.Application:
    """The demo site for ``seed`` on ``day``, with ``scale`` times the usual number of pages."""
    state = SiteState(seed=seed, day=day, scale=scale)
    app = web.Application(middlewares=[count_hits])
    app[STATE] = state
    _add_routes(app, state)
    return app
