"""Webhook events: signed as Stripe and GitHub sign theirs, posted with retries.

The body is JSON; the header ``Harvest-Signature: t=<unix time>,v1=<hex>`` carries an
HMAC-SHA256, keyed with the subscription's signing key, of ``"<t>.<body>"``. A receiver
recomputes it (:func:`verify_signature`), rejects a timestamp too old (a replay) and keeps
the event id (also sent as ``Idempotency-Key``) to ignore an event it has already had.

A post is retried with exponential backoff and jitter when it timed out, could not connect,
or got a 429 (waiting at least its ``Retry-After``) or a 5xx; any other 4xx is not retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

SIGNATURE_HEADER = "Harvest-Signature"
EVENT_HEADER = "Harvest-Event-Id"
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class RetryPolicy:
    """How a webhook post is retried."""

    attempts: int = 6  # posts in all before the delivery is dead-lettered
    base_seconds: float = 1.0  # the first wait; each next one doubles
    cap_seconds: float = 60.0  # no wait is longer
    timeout_seconds: float = 10.0  # a receiver slower than this has timed out

    def wait(self, attempt: int, at_least: float = 0.0) -> float:
        """The wait after failed post ``attempt`` (from 1): half fixed, half random jitter."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return max(at_least, ceiling / 2 + random.uniform(0, ceiling / 2))


@dataclass(frozen=True)
class PostResult:
    """How a webhook delivery ended: ``delivered``, ``failed`` (refused, not retried) or
    ``dead`` (every attempt failed), after how many attempts, and the last error."""

    status: str
    attempts: int
    error: str = ""


def sign(key: str, body: bytes, timestamp: int) -> str:
    """The ``Harvest-Signature`` header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    key: str, header: str, body: bytes, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> bool:
    """Whether ``header`` signs ``body`` with ``key`` and is recent (what a receiver checks)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(key, body, timestamp), f"t={timestamp},v1={fields.get('v1')}")


def body_of(event: Mapping[str, object]) -> bytes:
    return json.dumps(event, separators=(",", ":"), sort_keys=True, default=str).encode()


def post(
    client: httpx.Client,
    url: str,
    key: str,
    event_id: str,
    body: bytes,
    policy: RetryPolicy,
    on_attempt: Callable[[int, str], None] = lambda attempt, error: None,
    sleep: Callable[[float], None] = time.sleep,
) -> PostResult:
    """Post ``body`` to ``url`` until it is accepted (2xx) or the policy gives up."""
    error = ""
    for attempt in range(1, policy.attempts + 1):
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Harvest-Webhooks/1",
            SIGNATURE_HEADER: sign(key, body, int(time.time())),
            EVENT_HEADER: event_id,
            "Idempotency-Key": event_id,
        }
        at_least = 0.0
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            error = f"{url} did not answer within {policy.timeout_seconds:g} s."
        except httpx.TransportError as failure:
            error = f"Could not reach {url}: {failure or type(failure).__name__}."
        else:
            code = response.status_code
            if 200 <= code < 300:
                on_attempt(attempt, "")
                return PostResult("delivered", attempt)
            error = f"{url} answered {code} {response.reason_phrase}."
            if 400 <= code < 500 and code != 429:
                on_attempt(attempt, error)
                return PostResult("failed", attempt, error + " It was not retried.")
            at_least = _retry_after(response) if code == 429 else 0.0
        on_attempt(attempt, error)
        if attempt < policy.attempts:
            sleep(min(policy.cap_seconds, policy.wait(attempt, at_least)))
    return PostResult("dead", policy.attempts, f"{error} Gave up after {policy.attempts} attempts.")


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0
