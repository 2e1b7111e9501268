"""Releases what the package caches: keys (Python's and the core's runtimes), communicators
and mesh groups. ``clear_cache()`` calls it, and interpreter exit does (atexit), so nothing of
this package holds a process group into interpreter shutdown (issue 15, item 2)."""

from __future__ import annotations

import atexit

from .. import _ext
from . import group as _group
from .communicator import forget_communicator
from .key import key_cache

__all__ = ["release_all"]


def release_all() -> None:
    """Forgets every cached key, runtime, communicator and mesh group."""
    key_cache.clear()
    forget_communicator()
    _group.forget_mesh_groups()
    if _ext.loaded():
        _ext.core().clear_key_cache()


# NOTE: atexit runs handlers in reverse order of registration: this one (registered when the
# package is imported, after torch.distributed) runs before torch's own.
atexit.register(release_all)
