"""Sign-in abuse: failed sign-ins locked out by account and by address with growing locks, and
a cap on password checks running at once; per process, in memory, bounded.

A sign-in goes through :meth:`SignInGuard.sign_in`:

1. an e-mail or a client address under a lock is refused at once (:class:`TooManyAttempts`,
   HTTP 429 with ``Retry-After``), before any password work;
2. so is a sign-in that finds ``password_queue`` others already waiting for a check
   (:class:`Busy`, HTTP 503 with ``Retry-After``);
3. the others wait for one of ``password_checks`` slots in the event loop (an
   :class:`anyio.CapacityLimiter` of their own: a waiting sign-in holds no thread, least of all
   one of the thread pool every other synchronous route shares), then run in a worker thread:
   the locks looked at again (one set while this sign-in waited counts), the account read, its
   password checked (argon2: 64 MiB and a fraction of a second of a core; an unknown e-mail's
   against a stand-in hash, see :func:`scheduler.service.accounts.sign_in`), the outcome
   counted before the slot is given back.

Locks: ``sign_in_account_failures`` failures for one e-mail (whether an account has it or not:
a lock that only known e-mails got would tell which exist), or ``sign_in_address_failures`` from
one address (an IPv6 address by its /64), lock it for ``sign_in_lock_seconds``, each failure
after that for twice as long as the one before, at most ``sign_in_max_lock_seconds``. A key's
failures are forgotten ``sign_in_window`` seconds after its last one; a success forgets the
e-mail's (never the address's: an attacker's own account would clear their address).
Memory: at most ``MAX_KEYS`` keys, least recently failed dropped first, so cycling through
addresses or e-mails cannot grow it; argon2 takes at most 64 MiB x ``password_checks``.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import anyio
from sqlalchemy.orm import Session, sessionmaker

from scheduler.errors import ChairtimeError
from scheduler.security import dummy_hash, verify_password
from scheduler.service import accounts
from scheduler.settings import Settings
from scheduler.storage.tables import User

__all__ = ["MAX_KEYS", "Busy", "PasswordChecks", "RateLimits", "SignInGuard", "SignInThrottle",
           "TooManyAttempts", "TryLater"]

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_KEYS = 100_000
"""E-mails and addresses with failures the throttle remembers (about 200 bytes each)."""


class TryLater(ChairtimeError):
    """Not now: ask again after ``retry_after`` seconds (a whole number, at least 1)."""

    def __init__(self, seconds: float, message: str) -> None:
        self.retry_after = max(1, math.ceil(seconds))
        super().__init__(f"{message}: try again in {self.retry_after} s")


class TooManyAttempts(TryLater):
    """Too many failed sign-ins for this e-mail or from this address (HTTP 429)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds, "too many failed sign-ins")


class Busy(TryLater):
    """Too many sign-ins waiting for a password check already (HTTP 503)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds, "too many sign-ins at once")


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0
    until: float = 0.0


def _address_key(address: str) -> str:
    """An IPv4 address as it is, an IPv6 one by its /64 (one host's whole range), anything
    else (a test client's name) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"address:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"address:{ip.ipv4_mapped}"
        return f"address:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"address:{ip}"


def _account_key(email: str) -> str:
    return f"account:{email.strip().casefold()}"


class SignInThrottle:
    """Failed sign-ins by e-mail and by address, and the locks they earn (thread-safe).

    >>> t = SignInThrottle(account_failures=2, address_failures=10, clock=lambda: 100.0)
    >>> t.failed("a@example.org", "10.0.0.1"); t.wait("a@example.org", "10.0.0.9")
    0.0
    >>> t.failed("a@example.org", "10.0.0.1"); t.wait("A@example.org", "10.0.0.9")
    1.0
    """

    def __init__(self, *, account_failures: int = 5, address_failures: int = 20,
                 window: float = 900.0, first_lock: float = 1.0, max_lock: float = 300.0,
                 max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        self.account_failures = account_failures
        self.address_failures = address_failures
        self.window = window
        self.first_lock = first_lock
        self.max_lock = max_lock
        self.max_keys = max_keys
        self.clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def wait(self, email: str, address: str) -> float:
        """Seconds until a sign-in for ``email`` from ``address`` may be tried (0: now)."""
        with self._lock:
            t = self.clock()
            wait = 0.0
            for key in (_account_key(email), _address_key(address)):
                failures = self._failures.get(key)
                if failures is not None and failures.until > t:
                    wait = max(wait, failures.until - t)
            return wait

    def failed(self, email: str, address: str) -> None:
        """Count a failed sign-in against the e-mail and the address."""
        with self._lock:
            t = self.clock()
            self._count(_account_key(email), self.account_failures, t)
            self._count(_address_key(address), self.address_failures, t)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, email: str) -> None:
        """Forget the e-mail's failures (not the address's)."""
        with self._lock:
            self._failures.pop(_account_key(email), None)

    def _count(self, key: str, limit: int, t: float) -> None:
        failures = self._failures.pop(key, None) or _Failures()
        if t - failures.last > self.window:
            failures.count = 0
        failures.count += 1
        failures.last = t
        beyond = failures.count - limit
        if beyond >= 0:
            lock = min(self.max_lock, self.first_lock * 2.0 ** min(beyond, 60))
            failures.until = t + lock
            if beyond == 0:
                log.warning("sign-ins locked for %s after %d failures", key.split(":")[0],
                            failures.count)  # the key itself (an e-mail, an address) is not logged
        self._failures[key] = failures  # the most recent last


class PasswordChecks:
    """At most ``limit`` password checks at once, each in a worker thread under a limiter of
    its own; at most ``queue`` more waiting (in the event loop, holding no thread), beyond that
    :class:`Busy` at once. Counts what it ran: ``checks`` (argon2 verifications), ``running``
    now and the ``peak``."""

    def __init__(self, limit: int, queue: int) -> None:
        self.limit = limit
        self.queue = queue
        self._limiter = anyio.CapacityLimiter(limit)
        self._admitted = 0  # changed in the event loop only
        self._lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.checks = 0
        self.seconds = 0.25  # a check's time, a moving average (for Retry-After)

    async def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a worker thread once a slot is free, or :class:`Busy`."""
        if self._admitted >= self.limit + self.queue:
            raise Busy(self.seconds * (self._admitted - self.limit + 1) / self.limit)
        self._admitted += 1
        try:
            return await anyio.to_thread.run_sync(work, limiter=self._limiter)
        finally:
            self._admitted -= 1

    def verify(self, stored: str, password: str) -> bool:
        """:func:`scheduler.security.verify_password`, counted (call it from ``run``'s work)."""
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        t0 = time.perf_counter()
        try:
            return verify_password(stored, password)
        finally:
            with self._lock:
                self.running -= 1
                self.checks += 1
                self.seconds = 0.8 * self.seconds + 0.2 * (time.perf_counter() - t0)


SignedIn = tuple[User, str, datetime]


class SignInGuard:
    """The throttle and the password checks of one service process (``app.state``)."""

    def __init__(self, settings: Settings) -> None:
        self.throttle = SignInThrottle(
            account_failures=settings.sign_in_account_failures,
            address_failures=settings.sign_in_address_failures,
            window=settings.sign_in_window, first_lock=settings.sign_in_lock_seconds,
            max_lock=settings.sign_in_max_lock_seconds)
        self.checks = PasswordChecks(settings.password_checks, settings.password_queue)
        dummy_hash()  # made now, so that no sign-in pays for it

    async def sign_in(self, factory: sessionmaker[Session], email: str, password: str,
                      address: str, minutes: int) -> SignedIn | None:
        """:func:`scheduler.service.accounts.sign_in` (a token, or None for a wrong e-mail or
        password) behind the locks and the cap; :class:`TooManyAttempts` or :class:`Busy`
        when it may not run now."""
        wait = self.throttle.wait(email, address)
        if wait > 0:
            raise TooManyAttempts(wait)

        def attempt() -> SignedIn | None:
            wait = self.throttle.wait(email, address)  # a lock set while this one waited
            if wait > 0:
                raise TooManyAttempts(wait)
            with factory() as session:
                signed_in = accounts.sign_in(session, email, password, minutes,
                                             verify=self.checks.verify)
            if signed_in is None:
                self.throttle.failed(email, address)
            else:
                self.throttle.succeeded(email)
            return signed_in

        return await self.checks.run(attempt)


class RateLimits:
    """Token buckets per key (a token's hash, a client address): ``limit`` requests at once,
    refilled at ``limit`` per ``window`` seconds. Thread-safe; idle full buckets are dropped."""

    PRUNE_AT = 50_000

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait(self, *keys: tuple[str, int]) -> float:
        """Seconds until a request under every (key, limit) may go; 0 means it goes now (and
        is counted against each key)."""
        with self._lock:
            t = self.clock()
            levels = []
            wait = 0.0
            for key, limit in keys:
                rate = limit / self.window
                tokens, at = self._buckets.get(key, (float(limit), t))
                tokens = min(float(limit), tokens + (t - at) * rate)
                levels.append((key, tokens))
                if tokens < 1:
                    wait = max(wait, (1 - tokens) / rate)
            if wait > 0:
                return wait
            for key, tokens in levels:
                self._buckets[key] = (tokens - 1, t)
            if len(self._buckets) > self.PRUNE_AT:
                self._prune(t, dict(keys))
            return 0.0

    def _prune(self, t: float, limits: dict[str, int]) -> None:
        biggest = max(limits.values())
        full = [k for k, (tokens, at) in self._buckets.items()
                if tokens + (t - at) * biggest / self.window >= biggest]
        for key in full:
            del self._buckets[key]
