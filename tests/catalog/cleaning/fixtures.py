"""Raw tables written for the cleaning tests: shop rows shaped like raw.products, and hostile
input (markup and scripts, NUL bytes, non-UTF-8 bytes, a 10 MB field, an all-null column)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TEN_MB = 10 * 1024 * 1024


def fetched(hours: list[int]) -> pa.Array:
    return pa.array([T0 + timedelta(hours=h) for h in hours], pa.timestamp("us", tz="UTC"))


def shop_rows() -> pa.Table:
    """Six raw products: a repeated SKU (the later fetch is fresher), messy prices, stock
    words, relative image paths, HTML and personal data in descriptions, a missing name."""
    return pa.table(
        {
            "sku": ["A1", "A2", "A2", "A3", "A4", "A5"],
            "name": ["Blue <b>shirt</b>", "Red hat", "Red hat", "Green &amp; gold", None, "Mug"],
            "price": ["$1,299.00", "$12", "$13", "1.299,00\u00a0€", "£5", "Price on request"],
            "currency": ["USD", "USD", "USD", "EUR", "GBP", None],
            "availability": [
                "https://schema.org/InStock",
                "Out of stock",
                "In stock",
                "yes",
                "no",
                "InStock",
            ],
            "description": [
                "Great shirt. Mail me at a@b.com or call +1 555 123 4567.<script>alert(1)</script>",
                "A hat",
                "A hat",
                "Pay with 4111 1111 1111 1111",
                "x",
                None,
            ],
            "image": [
                "/img/1.jpg",
                "/img/2.jpg",
                "/img/2.jpg",
                "http://cdn.test/x.png",
                None,
                "3.jpg",
            ],
            "_url": [f"http://shop.test/p/{i}" for i in (1, 2, 2, 3, 4, 5)],
            "_fetched_at": fetched([0, 1, 2, 3, 4, 5]),
        }
    )


def hostile_rows() -> pa.Table:
    """Three rows of input meant to break things."""
    return pa.table(
        {
            "id": ["h1", "h2", "h3"],
            "title": [
                "<h1 onclick='x()'>Title</h1><script>document.cookie</script>",
                "NUL\x00inside\x00",
                "&lt;not a tag&gt; &amp;amp; \u200b\ufeffzero-width",
            ],
            "body": [
                "<p>" + "lorem ipsum " * (TEN_MB // 12) + "</p>",
                "contact: evil@example.org\x00",
                None,
            ],
            "legacy": pa.array([b"caf\xe9 \x93quoted\x94", b"plain", None], pa.binary()),
            "empty": pa.nulls(3),
            "_fetched_at": fetched([0, 1, 2]),
        }
    )
