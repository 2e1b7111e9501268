"""Loads the compiled core module ``magi_attention._C`` on first use."""

from __future__ import annotations

import importlib

_module = None


def core():
    """The ``_C`` extension; ImportError with the build command when it is missing."""
    global _module
    if _module is None:
        try:
            _module = importlib.import_module("magi_attention._C")
        except ImportError as e:
            raise ImportError(
                "magi_attention._C is not built or does not load "
                f"({e}); build it with tools/install_python.sh or "
                "`pip install --no-build-isolation .`") from e
    return _module


def loaded() -> bool:
    """Whether ``_C`` has been loaded (without loading it)."""
    return _module is not None
