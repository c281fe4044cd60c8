"""Rate limits (the `limits` package): in memory per process, across processes with REDIS_URL."""

from __future__ import annotations

from limits import parse, storage, strategies

from portal.base.settings import Settings


def make_limiter(settings: Settings) -> strategies.MovingWindowRateLimiter:
    """One limiter per app: Redis storage when PORTAL_REDIS_URL is set, else memory."""
    url = settings.redis_url
    backend = storage.storage_from_string(url) if url else storage.MemoryStorage()
    return strategies.MovingWindowRateLimiter(backend)


def allow(limiter: strategies.MovingWindowRateLimiter, rule: str, *keys: str) -> bool:
    """Count one hit against ``rule`` (e.g. "5/hour") for the keys; False once it is used up."""
    return limiter.hit(parse(rule), *keys)
