from __future__ import annotations

import functools
import heapq
import ipaddress
from collections import OrderedDict
from collections.abc import Callable

import httpx

from .._breaker import CircuitBreaker
from .._state import CircuitState

__all__ = ["BreakerRegistry", "host_key"]

_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN

# The ports that httpx.URL leaves out of a URL because they are the default
# for its scheme, as the key suffix that puts them back.
_DEFAULT_PORT_SUFFIXES = {
    "http": ":80",
    "https": ":443",
    "ws": ":80",
    "wss": ":443",
    "ftp": ":21",
}


def _url_parts_are_usable() -> bool:
    """Return whether httpx.URL keeps its parsed parts as this module expects.

    httpx.URL stores a parsed URL in its private ``_uri_reference`` attribute.
    Reading it directly saves about 40 ns per public property, which is a
    third of this transport's per-request cost. The check runs on import, so
    that an httpx version that changed it falls back to the public API.
    """
    url = httpx.URL("HTTP://[::1]:8080/a")
    try:
        parts = url._uri_reference
        return (parts.scheme, parts.host, parts.port) == (
            url.scheme,
            url.raw_host.decode("ascii"),
            url.port,
        )
    except AttributeError:
        return False


_READ_PARTS = _url_parts_are_usable()


def host_key(request: httpx.Request) -> str:
    """Return the breaker key of *request*: its scheme, host and port.

    The key reads like ``https://api.example.com:443``. httpx has already
    lower-cased the scheme and a host name, though not an IPv6 address, and
    encoded an internationalised host name with IDNA. So
    ``HTTPS://Bücher.example`` and ``https://xn--bcher-kva.example:443``
    share the key ``https://xn--bcher-kva.example:443``. This function drops
    the trailing dot of a fully qualified name, so ``example.com.`` and
    ``example.com`` share a key. It writes an IPv6 address in its compressed
    lower-case form and in brackets, so ``[FE80:0::1]`` becomes
    ``[fe80::1]``, and lower-cases a zone id such as ``%eth0`` without
    decoding it. The default port of the scheme is filled in.

    A custom ``key=`` function may call this and extend the result, for
    example with a path prefix.
    """
    url = request.url
    if _READ_PARTS:
        parts = url._uri_reference
        scheme: str = parts.scheme
        host: str = parts.host
        port: int | None = parts.port
    else:
        scheme = url.scheme
        host = url.raw_host.decode("ascii")
        port = url.port

    if ":" in host:
        host = _normalise_ipv6(host)
    elif host and host[-1] == "." and host != ".":
        # Indexing costs less than endswith() or a slice on this hot path.
        # An empty host, as in a relative URL, and a lone "." stay as they are.
        host = host[:-1]

    if port is not None:
        return f"{scheme}://{host}:{port}"

    suffix = _DEFAULT_PORT_SUFFIXES.get(scheme, "")
    return f"{scheme}://{host}{suffix}"


# ipaddress takes microseconds to parse an address, so the normalised forms of
# the 256 most recently used IPv6 hosts are kept.
@functools.lru_cache(maxsize=256)
def _normalise_ipv6(host: str) -> str:
    """Return IPv6 address *host* in compressed lower-case form, in brackets."""
    # httpx 0.29 rejects a URL whose IPv6 host ipaddress cannot parse, so the
    # address part parses here too. httpx keeps a zone id percent-encoded or
    # not, as written, and so does the key.
    address, percent, zone = host.partition("%")
    compressed = ipaddress.IPv6Address(address).compressed
    return f"[{compressed}{percent}{zone.lower()}]"


class BreakerRegistry:
    """A bounded map from keys to circuit breakers, created on first use.

    Entries live in three places. ``recent`` contains entries in least recently
    used order, and every lookup moves its entry to the end. When the
    registry is full and a new key arrives, one of the kept entries is
    evicted to make room, so the new entry is never the one dropped.
    Eviction takes entries from the front of ``recent``: a healthy one
    (closed, no failures counted since its last success) is dropped, and any
    other is parked. A parked entry that is open with its reset deadline
    still ahead goes to ``_open`` and to the ``_deadlines`` heap. The other
    parked entries (closed with failures, half-open, or open past the
    deadline) go to ``_parked``, in the order they were parked. A lookup of
    a parked key moves it back to ``recent``.

    So healthy entries go first, least recently used first. Then go the
    other entries that are not open before their deadline, in the order
    they were parked. Last go the open ones, earliest deadline first, which
    happens only when every kept entry is open. An entry is parked at most
    once per lookup and pushed on the heap at most once per parking or
    reopening, so eviction costs amortised O(log n) and needs no timer or
    task.

    A breaker can change state while parked, because a request admitted
    before parking settles later, and an open breaker's deadline passes with
    time. Both are checked again when an entry is taken out of ``_parked``
    or off the heap.
    """

    __slots__ = (
        "_clock",
        "_deadlines",
        "_factory",
        "_max_size",
        "_open",
        "_parked",
        "recent",
    )

    def __init__(
        self,
        max_size: int,
        factory: Callable[[str], CircuitBreaker],
        clock: Callable[[], float],
    ) -> None:
        self._max_size = max_size
        self._factory = factory
        self._clock = clock
        self.recent: OrderedDict[str, CircuitBreaker] = OrderedDict()
        self._parked: OrderedDict[str, CircuitBreaker] = OrderedDict()
        self._open: dict[str, CircuitBreaker] = {}
        # (reset deadline, key) of the entries in _open. Entries whose key
        # has left _open, or whose breaker reopened with a later deadline,
        # are skipped when popped.
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self.recent) + len(self._parked) + len(self._open)

    def get(self, key: str) -> CircuitBreaker:
        """Return the breaker of *key*, creating it if absent, and mark it used."""
        breaker = self.recent.get(key)
        if breaker is None:
            return self._insert(key)

        self.recent.move_to_end(key)
        return breaker

    def snapshot(self) -> dict[str, CircuitBreaker]:
        """Return a copy of every entry, least recently used first."""
        entries = dict(self._parked)
        entries.update(self._open)
        entries.update(self.recent)
        return entries

    def _insert(self, key: str) -> CircuitBreaker:
        breaker = self._parked.pop(key, None)
        if breaker is None:
            breaker = self._open.pop(key, None)
            if breaker is None:
                breaker = self._factory(key)

        # Room is made among the entries already kept, so the new entry is
        # never the one evicted and the caller's breaker stays registered.
        if len(self) >= self._max_size:
            self._evict_one()

        self.recent[key] = breaker
        return breaker

    def _evict_one(self) -> None:
        now = self._clock()
        while self.recent:
            key, breaker = self.recent.popitem(last=False)
            if breaker.state is _CLOSED and breaker.failure_count == 0:
                return

            self._park(key, breaker, now)

        while self._parked:
            key, breaker = self._parked.popitem(last=False)
            deadline = _open_deadline(breaker, now)
            if deadline is None:
                return

            self._park_open(key, breaker, deadline)

        while True:
            deadline, key = heapq.heappop(self._deadlines)
            candidate = self._open.get(key)
            if candidate is None:
                continue

            current = _open_deadline(candidate, now)
            if current is None or current == deadline:
                del self._open[key]
                return

            # The breaker reopened with a later deadline while parked.
            heapq.heappush(self._deadlines, (current, key))

    def _park(self, key: str, breaker: CircuitBreaker, now: float) -> None:
        deadline = _open_deadline(breaker, now)
        if deadline is None:
            self._parked[key] = breaker
        else:
            self._park_open(key, breaker, deadline)

    def _park_open(self, key: str, breaker: CircuitBreaker, deadline: float) -> None:
        self._open[key] = breaker
        heapq.heappush(self._deadlines, (deadline, key))
        if len(self._deadlines) > 2 * len(self._open) + 16:
            # Drop the skipped entries, so the heap stays proportional to _open.
            self._deadlines = [
                (breaker._open_until, key) for key, breaker in self._open.items()
            ]
            heapq.heapify(self._deadlines)


def _open_deadline(breaker: CircuitBreaker, now: float) -> float | None:
    """Return the reset deadline of an open breaker, or None once it has passed.

    Also returns None for a breaker that is not open.
    """
    if breaker.state is not _OPEN:
        return None

    deadline = breaker._open_until
    if deadline <= now:
        return None

    return deadline
