"""Small source specs over the demo site, for tests and benchmarks that crawl part of it.

``{demo}`` in ``base_url`` is replaced with the running site's address by whoever writes
the spec (``.format(demo=site.url)`` or a ``--base-url``).
"""

from __future__ import annotations

from collections.abc import Sequence

STORE_TABLES = """\
name: storeinfo
title: Store information tables
description: The data tables of the demo shop's store page.
license: CC0-1.0
base_url: "{demo}"
start_urls: [/tables]
limits: {max_pages: 3, depth: 0}
extract: [tables]
key: [_table, _row]
schedule: "15 5 * * *"
politeness: {delay: 0, concurrency: 4, robots: true}
"""


def shop(departments: Sequence[str] = ("kitchen", "outdoor"), max_pages: int = 80) -> str:
    """A source ``shop``: the products of these departments, title, price and category."""
    starts = ", ".join(f"/shop/{department}/" for department in departments)
    return f"""\
name: shop
title: The products of the {", ".join(departments)} departments
base_url: "{{demo}}"
start_urls: [{starts}]
follow:
  - css: .listing .product-grid a.product-link
limits: {{max_pages: {max_pages}, depth: 1}}
item:
  pages: /shop/product/\\d+-
  fields:
    title: h1.product-title
    shown_price: {{css: .offer .price::text, type: price}}
    category_name: .product-category a
key: [_url]
politeness: {{delay: 0, concurrency: 8, robots: true}}
"""
