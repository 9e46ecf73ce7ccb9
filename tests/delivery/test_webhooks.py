"""Webhook deliveries: the signed event, retries with backoff on the faults that pass, no
retry on a refusal, dead-lettering and retry by hand, and model champion events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from catalog import Catalog
from catalog.subscriptions import Subscription, Subscriptions
from delivery.run import deliver_pending, first_version, retry
from delivery.webhooks import RetryPolicy, sign, verify_signature
from tests.delivery.conftest import FAST, Receiver, products, settings


def _hook(catalog: Catalog, url: str, name: str = "hook") -> Subscription:
    sub = Subscription(name, "raw.shop", url, first_version=first_version(catalog, "raw.shop"))
    return Subscriptions(catalog).add(sub)


def test_the_event_is_signed_and_carries_the_diff_quality_and_a_link(
    shop: Catalog, receiver: Callable[..., Receiver]
) -> None:
    got = receiver()
    sub = _hook(shop, got.url)
    shop.commit("raw.shop", products(2), producer="test", quality_score=0.9,
                report={"rules": [{"name": "price_positive", "severity": "warn", "passed": False,
                                   "detail": "1 row"}]})  # fmt: skip
    done = deliver_pending(shop, settings=settings(public_url="http://api.test"))
    assert [d.status for d in done] == ["delivered", "delivered"]
    [first, second] = got.events()
    headers, body, _ = got.received[1]
    assert verify_signature(sub.signing_key or "", headers["Harvest-Signature"], body)
    assert not verify_signature("whsec_other", headers["Harvest-Signature"], body)
    assert not verify_signature(sub.signing_key or "", headers["Harvest-Signature"], body + b" ")
    assert headers["Idempotency-Key"] == second["id"] == done[1].id
    assert first["diff"] == {"since": None, "added": 5, "removed": 0, "changed": 0}
    assert second["diff"] == {"since": "raw.shop@1", "added": 1, "removed": 1, "changed": 1}
    assert second["quality"] == {
        "score": 0.9,
        "failed_rules": [{"name": "price_positive", "severity": "warn", "detail": "1 row"}],
    }
    assert second["rows"] == 5 and second["ref"] == "raw.shop@2"
    link = second["download"]["url"]  # type: ignore[index]
    assert link.startswith("http://api.test/v1/datasets/raw.shop/versions/2/download?expires=")


def test_an_old_signature_is_refused_as_a_replay() -> None:
    body = b'{"id":"evt_1"}'
    old = int(time.time()) - 3600
    assert not verify_signature("k", sign("k", body, old), body)
    assert verify_signature("k", sign("k", body, old), body, now=old + 10)


def test_a_receiver_down_at_first_gets_the_event_later_once(
    shop: Catalog, receiver: Callable[..., Receiver]
) -> None:
    got = receiver(script=[503, 502])
    _hook(shop, got.url)
    [done] = deliver_pending(shop, settings=settings())
    assert done.status == "delivered" and done.attempts == 3
    assert len(got.events()) == 1
    assert deliver_pending(shop, settings=settings()) == []
    assert len(got.events()) == 1


def test_a_receiver_that_refuses_connections_is_retried_then_dead_lettered(shop: Catalog) -> None:
    _hook(shop, "http://127.0.0.1:9/hook")  # the discard port: nothing listens
    [done] = deliver_pending(shop, settings=settings())
    assert done.status == "dead" and done.attempts == FAST.attempts
    assert "Could not reach http://127.0.0.1:9/hook" in done.last_error
    assert Subscriptions(shop).deliveries(failed=True) == [done]
    assert deliver_pending(shop, settings=settings()) == []  # dead: only retried by hand


def test_a_slow_receiver_times_out_and_is_retried(
    shop: Catalog, receiver: Callable[..., Receiver]
) -> None:
    got = receiver(delay=0.6)
    _hook(shop, got.url)
    slow = settings(policy=replace(FAST, timeout_seconds=0.2, attempts=2))
    [done] = deliver_pending(shop, settings=slow)
    assert done.status == "dead" and "did not answer within 0.2 s" in done.last_error
    got.delay = 0.0
    again = retry(shop, done.id, settings())
    assert again.status == "delivered" and again.attempts == 3
    assert again.id == done.id
    ids = {e["id"] for e in got.events()}
    assert ids == {done.id}  # the late copies carry the same idempotency key


def test_a_refusal_is_not_retried(shop: Catalog, receiver: Callable[..., Receiver]) -> None:
    got = receiver(script=[400])
    _hook(shop, got.url)
    [done] = deliver_pending(shop, settings=settings())
    assert done.status == "dead" and done.attempts == 1
    assert "answered 400" in done.last_error and "not retried" in done.last_error


def test_429_waits_at_least_retry_after() -> None:
    policy = RetryPolicy(base_seconds=0.01, cap_seconds=5)
    assert policy.wait(1, at_least=2.0) == 2.0
    waits = [policy.wait(3) for _ in range(50)]
    assert all(0.02 <= w <= 0.04 for w in waits) and len(set(waits)) > 1  # jittered


def test_a_model_subscription_hears_champion_changes_with_gates(
    shop: Catalog, receiver: Callable[..., Receiver]
) -> None:
    from training.registry import ROLL_BACK, Registry

    registry = Registry(shop)
    got = receiver()
    start = first_version(shop, "model:price")
    Subscriptions(shop).add(Subscription("models", "model:price", got.url, first_version=start))
    for version in (1, 2):
        registry.record("price", version, "promotion", [{"gate": "baseline", "passed": True}])
        registry.set_alias("price", "champion", version, {"by": "promote"})
    registry.set_alias("price", "champion", 1, {"by": ROLL_BACK, "from": 2})
    done = deliver_pending(shop, settings=settings())
    assert [d.status for d in done] == ["delivered"] * 3
    events = got.events()
    assert [(e["type"], e["version"], e["previous"], e["change"]) for e in events] == [
        ("model.champion", 1, None, "promotion"),
        ("model.champion", 2, 1, "promotion"),
        ("model.champion", 1, 2, "roll-back"),
    ]
    assert events[1]["gates"] == [{"gate": "baseline", "passed": True}]
    assert deliver_pending(shop, settings=settings()) == []
