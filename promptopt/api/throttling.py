"""How often a caller may call: the "token" rate (API_TOKEN_RATE), shared by every process through Django's cache."""

import threading

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from ..teams.models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """The "token" rate, per token; per user for a browser session, per address for anonymous calls.

    Counted in fixed windows, one counter per window in Django's cache, which every process shares. DRF's sliding
    log would keep every timestamp of the window in one entry (6,000 floats read and written per request at
    6000/min), and even one counter write per request costs more than the production endpoint's whole answer with
    the file cache (a file written and renamed). So each process adds its count to the shared one in batches of
    1 % of the rate (at least every second): a process may let through at most one batch more than the rate, and
    a burst straddling two windows up to twice the rate for a moment. At rates below 100 it counts every request.
    """

    scope = "token"
    flush_seconds = 1.0
    _counts = {}  # (ident, window) -> [counted here, not yet shared; the shared total as last seen; when shared]
    _lock = threading.Lock()

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]  # read now, not at import: tests change it

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.token_key(request.auth.pk)
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"

    def token_key(self, token_id):
        return f"throttle:{self.scope}:token:{token_id}"

    def allow_token(self, token_id):
        """`allow_request` for a request made with the API token `token_id`."""
        return self.rate is None or self.allow(self.token_key(token_id))

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        return self.allow(self.get_cache_key(request, view))

    def allow(self, ident_key):
        """Count one request against the caller `ident_key` (a `get_cache_key`); whether it is within the rate."""
        now = self.timer()
        window = int(now // self.duration)
        self.wait_seconds = (window + 1) * self.duration - now
        key = f"{ident_key}:{window}"
        with self._lock:
            if key not in self._counts:
                self._forget_old_windows(window)
                self._counts[key] = [0, 0, now]
            count = self._counts[key]
            count[0] += 1
            if count[0] >= max(1, self.num_requests // 100) or now - count[2] >= self.flush_seconds:
                count[1], count[0], count[2] = self._share(key, count[0]), 0, now
            return count[1] + count[0] <= self.num_requests

    def _share(self, key, pending):
        """Add `pending` to the shared count of the window; the shared count after it."""
        try:
            return self.cache.incr(key, pending)
        except ValueError:  # the window's first batch
            if self.cache.add(key, pending, self.duration + 1):
                return pending
            return self.cache.incr(key, pending)

    def _forget_old_windows(self, window):
        for key in [key for key in self._counts if int(key.rsplit(":", 1)[1]) < window]:
            del self._counts[key]

    def wait(self):
        return self.wait_seconds
