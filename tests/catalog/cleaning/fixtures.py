"""Raw tables written for the cleaning tests: shop rows shaped like raw.products, and hostile
input (markup and scripts, NUL bytes, non-UTF-8 bytes, a 10 MB field, an all-null column)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

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


def demo_products() -> pa.Table:
    """Rows in the shape the bundled products spider writes (JSON-LD and microdata flattened
    beside the page's fields), with the demo shop's second URL for one product."""
    base = {
        "title": [
            "\n  Classic Saucepan  \n",
            "Trail Hydration Pack",
            "Trail Hydration Pack",
            "Lamp",
        ],
        "shown_price": [26.0, 25.99, 25.99, None],
        "shown_price_currency": ["EUR", "USD", "USD", None],
        "was_price": [None, 29.99, 29.99, None],
        "availability_text": ["In stock", "Only a few left", "Only a few left", "Pre-order"],
        "in_stock": [True, True, True, False],
        "category": ["Kitchen", "Outdoor &amp; Camping", "Outdoor &amp; Camping", "Garden"],
        "image_url": [f"http://127.0.0.1:8700/images/products/{i}.png" for i in (1, 2, 2, 3)],
        "image": [f"images/{i}{i}{i}.jpg" for i in (1, 2, 2, 3)],
        "specs": [["ColourForest", "Weight1850 g"], [], [], ["ColourRed"]],
        "description": [
            "Thoughtful and made for everyday use. Rated &#9733;&#9733; by our staff &amp; friends.",
            "Dependable &mdash; weighs under 900 g.",
            "Dependable &mdash; weighs under 900 g.",
            None,
        ],
        "sku": ["HV-KIT-01012", "HV-OUT-01003", "HV-OUT-01003", "HV-GAR-01004"],
        "gtin": ["4017456129469", None, None, "0012345678905"],
        "brand": ["Kochwerk", None, None, "Hedgerow & Co."],
        "price": [26.0, 25.99, 25.99, None],
        "currency": ["EUR", "USD", "USD", None],
        "availability": ["InStock", "LimitedAvailability", "LimitedAvailability", "PreOrder"],
        "_url": [
            "http://127.0.0.1:8700/shop/product/1012-classic-saucepan",
            "http://127.0.0.1:8700/shop/product/1003-trail-hydration-pack",
            "http://127.0.0.1:8700/shop/p/1003",
            "http://127.0.0.1:8700/shop/product/1004-lamp",
        ],
        "_fetched_at": fetched([0, 1, 2, 3]),
        "_status": pa.array([200] * 4, pa.int32()),
        "_source": ["products"] * 4,
        "_run_id": ["r1"] * 4,
        "_content_hash": ["h1", "h2", "h3", "h4"],
    }
    return pa.table(base)


STORY = (
    "The question now is whether the visiting side can hold their nerve in the final "
    "minutes. Few championships have been chased as hard as this one, and the coach said "
    "the squad had trained for exactly this moment over the whole winter season."
)


def demo_articles() -> pa.Table:
    """Rows in the shape the bundled articles spider writes; the third is the first story
    republished with two words changed."""
    return pa.table(
        {
            "section": ["Sport", "Culture", "Sport"],
            "headline": ["Inside the late goalkeeper", "A converted warehouse", "Late goalkeeper"],
            "standfirst": ["Few championships...", "The gallery...", "Few championships..."],
            "byline": ["Elena MacLeod", "Elena Haddad", "Elena MacLeod"],
            "published": pa.array([date(2024, 9, 11), date(2024, 12, 7), date(2024, 9, 12)]),
            "title": ["Inside the late goalkeeper", "A converted warehouse", "Late goalkeeper"],
            "text": [
                STORY,
                "In Berlin, the director restored a derelict warehouse into a gallery for "
                "young painters, and the opening night drew a crowd that spilled into the street.",
                STORY.replace("whole winter", "long winter"),
            ],
            "_url": [f"http://127.0.0.1:8700/magazine/article/{i}-x" for i in (1, 2, 3)],
            "_fetched_at": fetched([0, 1, 2]),
            "_status": pa.array([200] * 3, pa.int32()),
            "_source": ["articles"] * 3,
            "_run_id": ["r1"] * 3,
            "_content_hash": ["a", "b", "c"],
        }
    )


def demo_reviews() -> pa.Table:
    """Rows in the shape the bundled reviews spider writes, one with personal data."""
    return pa.table(
        {
            "review_id": ["1001-1", "1004-1", "1004-2"],
            "product_sku": ["HV-BOO-01001", "HV-GAR-01004", "HV-GAR-01004"],
            "product_title": ["The Lost Cartographer", "Solar Lantern", "Solar Lantern"],
            "rating": [4, 5, 2],
            "title": ["Happy with it", "Excellent!", "Meh"],
            "author": ["Rafael P.", "Tomás K.", "Fatima L."],
            "date": pa.array([date(2024, 10, 12), date(2024, 4, 27), date(2024, 7, 16)]),
            "body": [
                "Very pleased overall. My partner liked the natural finish.",
                "Absolutely brilliant. Write to me at tomas@example.com for photos.",
                "Cheaper options do the same. Packaging was damaged on arrival.",
            ],
            "_url": ["http://127.0.0.1:8700/shop/product/1001-x"] * 3,
            "_fetched_at": fetched([0, 0, 0]),
            "_status": pa.array([200] * 3, pa.int32()),
            "_source": ["reviews"] * 3,
            "_run_id": ["r1"] * 3,
            "_content_hash": ["a", "b", "c"],
        }
    )
