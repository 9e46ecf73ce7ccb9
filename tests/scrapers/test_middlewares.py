"""Retry backoff, the revalidating cache policy, and content-addressed media paths."""

from __future__ import annotations

from scrapy import Request
from scrapy.http import Response
from scrapy.settings import Settings

from scrapers.middlewares import BackoffRetryMiddleware, RevalidatePolicy
from scrapers.pipelines import MediaFilesPipeline, MediaImagesPipeline


def backoff(base: float = 0.5, cap: float = 30.0) -> BackoffRetryMiddleware:
    return BackoffRetryMiddleware(Settings({"RETRY_BACKOFF_BASE": base, "RETRY_BACKOFF_MAX": cap}))


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    middleware = backoff()
    for attempt, low in ((1, 0.5), (2, 1.0), (3, 2.0)):
        delays = [middleware.delay(attempt, None) for _ in range(50)]
        assert all(low <= d <= low * 1.5 for d in delays)
    assert backoff(cap=3.0).delay(10, None) == 3.0


def test_backoff_honours_retry_after_up_to_the_cap() -> None:
    answer = Response("https://x/", status=429, headers={"Retry-After": "7"})
    assert backoff().delay(1, answer) == 7.0
    assert backoff(cap=2.0).delay(1, answer) == 2.0
    garbled = Response("https://x/", status=503, headers={"Retry-After": "soon"})
    assert 0.5 <= backoff().delay(1, garbled) <= 0.75


def test_cached_pages_are_always_revalidated() -> None:
    policy = RevalidatePolicy(Settings({"HTTPCACHE_ALWAYS_STORE": True}))
    request = Request("https://x/p/1")
    cached = Response(
        "https://x/p/1",
        headers={
            "Cache-Control": "max-age=86400",
            "ETag": '"v1"',
            "Date": "Mon, 23 Nov 2026 10:00:00 GMT",
        },
    )
    assert policy.should_cache_response(cached, request)
    assert not policy.is_cached_response_fresh(cached, request)  # even with a day of max-age
    assert request.headers.get("If-None-Match") == b'"v1"'  # asks whether it changed
    assert policy.is_cached_response_valid(cached, Response("https://x/p/1", status=304), request)
    assert not policy.is_cached_response_valid(
        cached, Response("https://x/p/1", status=200), request
    )
    assert not policy.is_cached_response_valid(
        cached, Response("https://x/p/1", status=503), request
    )


def test_media_paths_are_named_by_content() -> None:
    same = b"\x89PNG same bytes"
    one = Response("https://a.example/1.png", body=same)
    two = Response("https://b.example/other.png", body=same)
    images = object.__new__(MediaImagesPipeline).file_path  # no crawler needed to name files
    assert images(one.request or Request(one.url), one) == images(Request(two.url), two)
    assert images(Request(one.url), one).startswith("images/") and images(
        None, Request(one.url), one
    ).endswith(".jpg")
    different = Response("https://a.example/1.png", body=b"other bytes")
    assert images(Request(one.url), one) != images(Request(one.url), different)
    files = object.__new__(MediaFilesPipeline).file_path
    manual = files(
        Request("https://a.example/manual.pdf?v=2"),
        Response("https://a.example/manual.pdf", body=same),
    )
    assert manual.startswith("files/") and manual.endswith(".pdf")
