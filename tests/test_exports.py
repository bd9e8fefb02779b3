from __future__ import annotations

import re
import types

import anybreaker


def test_all_lists_public_api() -> None:
    assert anybreaker.__all__ == [
        "CircuitBreaker",
        "CircuitBreakerListener",
        "CircuitOpenError",
        "CircuitState",
        "__version__",
    ]


def test_all_is_sorted() -> None:
    assert anybreaker.__all__ == sorted(anybreaker.__all__)


def test_all_names_resolve() -> None:
    missing = [name for name in anybreaker.__all__ if not hasattr(anybreaker, name)]

    assert missing == []


def test_no_unlisted_public_names() -> None:
    public = {
        name
        for name, value in vars(anybreaker).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }

    assert public == set(anybreaker.__all__) - {"__version__"}


def test_exports_come_from_package() -> None:
    for name in anybreaker.__all__:
        if name == "__version__":
            continue

        assert getattr(anybreaker, name).__module__.startswith("anybreaker.")


def test_version_is_pep_440() -> None:
    assert re.fullmatch(
        r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", anybreaker.__version__
    )
