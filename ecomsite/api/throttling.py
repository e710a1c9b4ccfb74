"""API rate limits: one budget per caller (partner token, staff user, else client address).

``CallerRateThrottle`` keeps DRF's rate syntax (``API_THROTTLE_RATE``, e.g. "600/min") and its
cache, but not its bookkeeping. DRF's ``SimpleRateThrottle`` stores the timestamp of every request
of the last period in one cache entry, so each request reads, unpickles, extends, pickles and
writes back a list as long as the allowed rate: at 100/s that is 6,000 floats (~50 kB) per
request, and at the rates a partner's web page needs, milliseconds of CPU and a few hundred kB
through the cache per call. Concurrent requests also overwrite each other's lists, so some are
never counted.

This one counts instead (the "sliding window counter"): one integer per caller and window of
the period's length (window n covers [n·d, (n+1)·d) seconds since the epoch), incremented
atomically with ``cache.incr``. The requests of the last period are estimated as the current
window's count plus the previous window's count weighted by the share of the previous window
still inside the period: ``previous · (1 - elapsed / d) + current``. A request is refused when
that estimate has reached the limit; refused requests are not counted (as in DRF). Each request
costs three small cache round trips (read both counters, check and increment), whatever the rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.throttling import SimpleRateThrottle

from ecomsite.models import PartnerToken

if TYPE_CHECKING:  # runtime imports would be circular: DRF loads these classes from settings
    from rest_framework.request import Request
    from rest_framework.views import APIView


class CallerRateThrottle(SimpleRateThrottle):
    """One request budget per token (partners) or per user (staff); rate from API_THROTTLE_RATE.
    Counted in two fixed windows, estimated over a sliding one (module docstring)."""

    scope = "caller"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if isinstance(request.auth, PartnerToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        current_key, previous_key = f"{key}:{window}", f"{key}:{window - 1}"
        counts = self.cache.get_many([current_key, previous_key])
        self.current = int(counts.get(current_key, 0))
        self.previous = int(counts.get(previous_key, 0))
        self.elapsed = self.now - window * self.duration  # seconds into the current window
        if self.estimate() >= self.num_requests:
            return self.throttle_failure()
        self._count(current_key)
        return True

    def estimate(self) -> float:
        """Requests in the sliding period ending now (before this one)."""
        overlap = 1.0 - self.elapsed / self.duration
        return self.previous * overlap + self.current

    def _count(self, key: str) -> None:
        try:
            self.cache.incr(key)
        except ValueError:  # the window's first request (or its counter expired)
            # Kept for two periods: it is the "previous" counter during the next window.
            if not self.cache.add(key, 1, 2 * self.duration):
                self.cache.incr(key)  # another request created it in between

    def wait(self) -> float:
        """The Retry-After hint in seconds: until the estimate falls below the limit if no more
        requests are counted, and at least one request's share of the period (the estimate
        decays continuously, so "now" would only be refused again)."""
        limit, d = self.num_requests, self.duration
        if self.current >= limit:
            # Wait for the next window, where this window's count decays as "previous".
            seconds = (d - self.elapsed) + d * max(0.0, 1.0 - limit / self.current)
        elif self.previous:
            seconds = d * (1.0 - (limit - self.current) / self.previous) - self.elapsed
        else:
            seconds = 0.0
        return max(seconds, d / limit)
