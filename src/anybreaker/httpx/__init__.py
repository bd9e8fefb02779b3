"""Per-host circuit breakers for httpx: `CircuitBreakerTransport`.

This module needs httpx, which ``pip install 'anybreaker[httpx]'`` installs.
Importing `anybreaker` alone never imports httpx.
"""

try:
    import httpx as _httpx  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "anybreaker.httpx needs httpx, which is not installed; "
        "install it with: pip install 'anybreaker[httpx]'"
    ) from exc

from ._classify import FAILING_STATUS_CODES, Classifier, Outcome, default_classifier
from ._errors import CircuitOpenTransportError
from ._registry import host_key
from ._transport import EXTENSION, CircuitBreakerTransport, CircuitReport

__all__ = [
    "EXTENSION",
    "FAILING_STATUS_CODES",
    "CircuitBreakerTransport",
    "CircuitOpenTransportError",
    "CircuitReport",
    "Classifier",
    "Outcome",
    "default_classifier",
    "host_key",
]
