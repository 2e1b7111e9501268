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
        _warn_unread_env(_module.env_knobs())
    return _module


# NOTE: variables the Python layer reads itself; the core's come from _C.env_knobs().
_PYTHON_KNOBS = frozenset({"MAGI_ATTENTION_HIERARCHICAL_COMM"})


def _warn_unread_env(core_knobs) -> None:
    """One warning (per process) naming every MAGI_ATTENTION_* variable set that nothing here
    reads (the original's kernel backends, precision, SM margins, QO communication, ...), so
    that a setting carried over from the original is not silently without effect."""
    import os
    import warnings

    known = _PYTHON_KNOBS | set(core_knobs)
    # NOTE: a value that asks for nothing (empty, a flag off, the original's defaults) is not
    # reported.
    idle = {"", "0", "false", "off", "no", "none", "ffa", "warn", "warning"}
    unread = sorted(n for n, v in os.environ.items() if n.startswith("MAGI_ATTENTION_") and
                    n not in known and v.strip().lower() not in idle)
    if unread:
        warnings.warn("magi_attention: these environment variables have no effect in this "
                      "implementation: " + ", ".join(unread) + " (docs/python.md lists the ones "
                      "it reads)", stacklevel=3)


def loaded() -> bool:
    """Whether ``_C`` has been loaded (without loading it)."""
    return _module is not None
