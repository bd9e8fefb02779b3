"""An asyncio-native circuit breaker for async Python clients, built on anyio."""

from ._breaker import CircuitBreaker
from ._errors import CircuitOpenError
from ._listener import CircuitBreakerListener
from ._state import CircuitState
from ._version import __version__

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerListener",
    "CircuitOpenError",
    "CircuitState",
    "__version__",
]
