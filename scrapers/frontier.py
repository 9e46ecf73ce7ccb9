"""The shared crawl frontier: one crawl's queue, duplicate filter and leases in Redis.

Crawl workers on any machine join a crawl by its run id; everything they share lives
under ``harvest:crawl:<run_id>:`` in Redis (``HARVEST_REDIS_URL``):

- ``payload`` (entry id → request as JSON, from Scrapy's ``Request.to_dict``; never pickle),
  ``q:<domain>`` (entry ids waiting, first in first out) and ``domains`` (those with a queue);
- ``seen`` (request fingerprints: the duplicate filter, and the page budget's count);
- ``leases`` (entry id → expiry, in Redis' own clock) with ``owner`` and ``domain`` of each:
  a worker that takes a request leases it, renews its leases while it lives and
  acknowledges each when its response is processed (items written, links queued). A
  lease that expires (its worker was killed) puts the request back at the head of its queue;
- ``inflight`` and ``next_at`` per domain: politeness across workers. A worker takes a
  request of a domain only while fewer than the spec's ``concurrency`` are leased and its
  ``delay`` has passed since the last one, whichever worker took it;
- ``page_owner`` (response URL → worker): who acknowledged a page first. The coordinator keeps a
  page's records from that worker's landing part only, so a page a killed worker landed
  but never acknowledged is neither lost (it is crawled again) nor doubled;
- ``workers`` (worker id → JSON: pid, host, status) and ``job`` (what the crawl is).

Every change that must be atomic is one Lua script. ``Frontier`` is the IO; the Scrapy
scheduler over it is ``scrapers.frontier_scheduler``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.errors import HarvestError

REDIS_ENV = "HARVEST_REDIS_URL"
LEASE_ENV = "HARVEST_FRONTIER_LEASE_S"
DEFAULT_LEASE_S = 30.0

_PUSH = """
-- KEYS: none (the crawl's prefix is ARGV[1]); ARGV: prefix, payload, domain, fingerprint
-- ('' for a request that skips the duplicate filter), budget, lease id to acknowledge ('' none),
-- worker, id of an entry the worker took back into its queue ('' none)
local p = ARGV[1]
local fp, budget, parent, worker = ARGV[4], tonumber(ARGV[5]), ARGV[6], ARGV[7]
local added = 1
if fp ~= '' then
  if redis.call('SCARD', p .. 'seen') >= budget then
    added = 0
  else
    added = redis.call('SADD', p .. 'seen', fp)
  end
end
if added == 1 then
  local id = redis.call('INCR', p .. 'ids')
  redis.call('HSET', p .. 'payload', id, ARGV[2])
  redis.call('RPUSH', p .. 'q:' .. ARGV[3], id)
  redis.call('SADD', p .. 'domains', ARGV[3])
  redis.call('INCR', p .. 'queued')
end
if parent ~= '' and redis.call('HGET', p .. 'owner', parent) == worker then
  local d = redis.call('HGET', p .. 'domain', parent)
  redis.call('ZREM', p .. 'leases', parent)
  redis.call('HDEL', p .. 'owner', parent)
  redis.call('HDEL', p .. 'domain', parent)
  redis.call('HDEL', p .. 'payload', parent)
  redis.call('HINCRBY', p .. 'inflight', d, -1)
end
return added
"""

_TAKE = """
-- ARGV: prefix, worker, lease ms, concurrency per domain, delay ms
local p, worker = ARGV[1], ARGV[2]
local lease, concurrency, delay = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'leases', '-inf', now)) do
  local d = redis.call('HGET', p .. 'domain', id)
  redis.call('ZREM', p .. 'leases', id)
  redis.call('HDEL', p .. 'owner', id)
  redis.call('HDEL', p .. 'domain', id)
  redis.call('HINCRBY', p .. 'inflight', d, -1)
  redis.call('LPUSH', p .. 'q:' .. d, id)
  redis.call('SADD', p .. 'domains', d)
  redis.call('INCR', p .. 'queued')
  redis.call('INCR', p .. 'expired')
end
for _, d in ipairs(redis.call('SMEMBERS', p .. 'domains')) do
  if redis.call('LLEN', p .. 'q:' .. d) == 0 then
    redis.call('SREM', p .. 'domains', d)
  elseif tonumber(redis.call('HGET', p .. 'inflight', d) or '0') < concurrency
      and tonumber(redis.call('HGET', p .. 'next_at', d) or '0') <= now then
    local id = redis.call('LPOP', p .. 'q:' .. d)
    redis.call('DECR', p .. 'queued')
    redis.call('ZADD', p .. 'leases', now + lease, id)
    redis.call('HSET', p .. 'owner', id, worker)
    redis.call('HSET', p .. 'domain', id, d)
    redis.call('HINCRBY', p .. 'inflight', d, 1)
    redis.call('HSET', p .. 'next_at', d, now + delay)
    return {id, redis.call('HGET', p .. 'payload', id)}
  end
end
return false
"""

_ACK = """
-- ARGV: prefix, worker, lease ms (unused here), then pairs of entry id and page URL ('' none)
local p, worker = ARGV[1], ARGV[2]
local done = 0
for i = 4, #ARGV, 2 do
  local id, url = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', p .. 'owner', id) == worker then
    local d = redis.call('HGET', p .. 'domain', id)
    redis.call('ZREM', p .. 'leases', id)
    redis.call('HDEL', p .. 'owner', id)
    redis.call('HDEL', p .. 'domain', id)
    redis.call('HDEL', p .. 'payload', id)
    redis.call('HINCRBY', p .. 'inflight', d, -1)
    if url ~= '' then redis.call('HSETNX', p .. 'page_owner', url, worker) end
    done = done + 1
  end
end
return done
"""

_RENEW = """
-- ARGV: prefix, worker, lease ms, then entry ids
local p, worker, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local renewed = 0
for i = 4, #ARGV do
  if redis.call('HGET', p .. 'owner', ARGV[i]) == worker then
    redis.call('ZADD', p .. 'leases', 'XX', now + lease, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
"""


class FrontierUnavailable(HarvestError):
    """No Redis to share a crawl's frontier, or it did not answer."""


@dataclass(frozen=True)
class Entry:
    """A request a worker leased: its entry id and its ``Request.to_dict`` form."""

    id: str
    request: dict[str, Any]


@dataclass(frozen=True)
class FrontierCounts:
    queued: int
    leased: int
    seen: int
    expired: int

    @property
    def drained(self) -> bool:
        return self.queued == 0 and self.leased == 0


def redis_url() -> str | None:
    """The Redis URL crawl workers share (``HARVEST_REDIS_URL``), or None."""
    return os.environ.get(REDIS_ENV) or None


def lease_seconds() -> float:
    return float(os.environ.get(LEASE_ENV, DEFAULT_LEASE_S))


def worker_name() -> str:
    """A worker id unique across machines: host and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Frontier:
    """One crawl's frontier in Redis, as seen by one worker (or the coordinator)."""

    def __init__(self, url: str, run_id: str, worker: str = "coordinator") -> None:
        import redis

        self.prefix = f"harvest:crawl:{run_id}:"
        self.worker = worker
        self.redis = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10)
        try:
            self.redis.ping()
        except redis.RedisError as error:
            raise FrontierUnavailable(
                f"The crawl frontier's Redis at {url} does not answer ({error}); start it "
                f"(harvest services up) or point {REDIS_ENV} at a running one."
            ) from None
        self._push = self.redis.register_script(_PUSH)
        self._take = self.redis.register_script(_TAKE)
        self._ack = self.redis.register_script(_ACK)
        self._renew = self.redis.register_script(_RENEW)

    def push(
        self,
        request: dict[str, Any],
        domain: str,
        fingerprint: str | None,
        budget: int,
        replaces: str | None = None,
    ) -> bool:
        """Queue a request unless seen (or over ``budget`` pages); acknowledge ``replaces``
        (a retry or redirect of that leased entry) in the same step. True when queued."""
        payload = json.dumps(request, separators=(",", ":"))
        args: list[str | int] = [
            self.prefix,
            payload,
            domain,
            fingerprint or "",
            budget,
            replaces or "",
            self.worker,
        ]
        return bool(self._push(args=args))

    def take(self, lease_s: float, concurrency: int, delay_s: float) -> Entry | None:
        """Lease the next request whose domain's politeness allows one now (None if none)."""
        found = self._take(
            args=[self.prefix, self.worker, int(lease_s * 1000), concurrency, int(delay_s * 1000)]
        )
        if not found:
            return None
        entry_id, payload = found
        return Entry(id=str(entry_id), request=json.loads(payload))

    def ack(self, done: Iterable[tuple[str, str | None]]) -> int:
        """Acknowledge processed entries (id, the page URL whose records were landed)."""
        args: list[str | int] = [self.prefix, self.worker, 0]
        for entry_id, url in done:
            args += [entry_id, url or ""]
        return int(self._ack(args=args)) if len(args) > 3 else 0

    def renew(self, entry_ids: Iterable[str], lease_s: float) -> int:
        ids = list(entry_ids)
        if not ids:
            return 0
        args: list[str | int] = [self.prefix, self.worker, int(lease_s * 1000), *ids]
        return int(self._renew(args=args))

    def counts(self) -> FrontierCounts:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.prefix + "queued")
        pipe.zcard(self.prefix + "leases")
        pipe.scard(self.prefix + "seen")
        pipe.get(self.prefix + "expired")
        queued, leased, seen, expired = pipe.execute()
        return FrontierCounts(int(queued or 0), int(leased), int(seen), int(expired or 0))

    def page_owners(self) -> dict[str, str]:
        owners: dict[str, str] = self.redis.hgetall(self.prefix + "page_owner")  # type: ignore[assignment]
        return owners

    # -- the crawl and its workers ------------------------------------------------------

    def publish_job(self, job: dict[str, Any]) -> None:
        self.redis.set(self.prefix + "job", json.dumps(job))

    def job(self) -> dict[str, Any] | None:
        text = self.redis.get(self.prefix + "job")
        return json.loads(str(text)) if text else None

    def report(self, status: str, lease_s: float) -> None:
        """Say this worker is ``status`` (joined, crawling, finished) and alive for a lease."""
        state = {"pid": os.getpid(), "host": socket.gethostname(), "status": status}
        pipe = self.redis.pipeline()
        pipe.hset(self.prefix + "workers", self.worker, json.dumps(state))
        pipe.set(self.prefix + "alive:" + self.worker, 1, px=int(lease_s * 1000))
        pipe.execute()

    def workers(self) -> dict[str, dict[str, Any]]:
        """Every worker that joined, with its state and whether it is still alive."""
        found: dict[str, str] = self.redis.hgetall(self.prefix + "workers")  # type: ignore[assignment]
        states = {name: json.loads(text) for name, text in found.items()}
        for name, state in states.items():
            state["alive"] = bool(self.redis.exists(self.prefix + "alive:" + name))
        return states

    def clear(self) -> None:
        """Remove the crawl's keys (after it was committed or given up)."""
        keys = list(self.redis.scan_iter(match=self.prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            self.redis.delete(*keys[start : start + 500])
