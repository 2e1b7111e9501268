"""DistAttnRuntimeKey and the per-group LRU key cache.

A key is a value (hashable, equal by its fields) that also carries the rank's C++ runtime and
the group's communicator. Keys are cached per group so that re-creating an equal key returns the
cached one without planning; the C++ side caches runtimes too (make_flex_key). Head counts and
head_dim take no part in planning: one runtime serves every head configuration, and calc_attn
checks the heads the key was given (if any) on every call.
"""

from __future__ import annotations

import itertools
import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Optional

from ..common.enum import AttnMaskType
from ..common.ranges import AttnRanges
from ..config import DistAttnConfig

__all__ = ["DistAttnRuntimeKey", "KeyCache", "key_cache", "register_key", "key_of_id"]


@dataclass(frozen=True, eq=True)
class DistAttnRuntimeKey:
    """Identifies one distributed attention setup on one CP group.

    Fields compared and hashed: the mask ``slices`` (``(q_start, q_end, k_start, k_end,
    type_code)`` before padding), the total sequence lengths (before padding), head counts and
    head_dim (None where the call did not give them), ``chunk_size`` (when not given, the
    default of the moment: ``MAGI_ATTENTION_MIN_CHUNKS_PER_RANK`` is read at key creation),
    the group id, the config, ``is_same_source`` (False: cross-attention, q and k/v dispatched
    separately), ``dispatch_key`` (the key whose dispatch a new-mask key reuses, else None) and
    ``hier_mesh`` (the shape of hierarchical communication, else None);
    ``pad_size`` follows from them. ``runtime`` (the rank's C++
    runtime), ``comm`` and the user's
    ``cp_group``/``cp_mesh`` ride along without taking part in equality; the group and the
    mesh are held weakly (a cached key never keeps a process group alive).
    """

    slices: tuple
    total_seqlen_q: int
    total_seqlen_k: int
    num_heads_q: Optional[int]
    num_heads_kv: Optional[int]
    head_dim: Optional[int]
    pad_size: int = field(compare=False)
    chunk_size: Optional[int]
    group_id: str
    dist_attn_config: DistAttnConfig
    # Keys of make_*_key_for_new_mask_after_dispatch: the key whose dispatch they reuse (the
    # first key of the chain); None: the dispatch was solved for this key's own mask.
    dispatch_key: Optional["DistAttnRuntimeKey"] = None
    # (inter, intra) of hierarchical communication (a 2-D cp_mesh under
    # MAGI_ATTENTION_HIERARCHICAL_COMM=1); None: flat.
    hier_mesh: Optional[tuple] = None
    is_same_source: bool = True
    runtime: Any = field(default=None, compare=False, repr=False)
    comm: Any = field(default=None, compare=False, repr=False)
    cp_group_ref: Any = field(default=None, compare=False, repr=False)  # weakref.ref or None
    cp_mesh_ref: Any = field(default=None, compare=False, repr=False)
    key_id: int = field(default=-1, compare=False, repr=False)  # see register_key

    @property
    def cp_group(self):
        """The process group of the key (None once it was destroyed)."""
        return self.cp_group_ref() if self.cp_group_ref is not None else None

    @property
    def cp_mesh(self):
        """The device mesh the key was made with, or None."""
        return self.cp_mesh_ref() if self.cp_mesh_ref is not None else None

    def __hash__(self) -> int:
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash((self.slices, self.total_seqlen_q, self.total_seqlen_k, self.num_heads_q,
                      self.num_heads_kv, self.head_dim, self.chunk_size,
                      self.group_id, self.dist_attn_config, self.dispatch_key,
                      self.hier_mesh, self.is_same_source))
            object.__setattr__(self, "_hash", h)
        return h

    @property
    def q_ranges(self):
        """The mask's q ranges (:class:`AttnRanges`, before padding; the original's field)."""
        return AttnRanges.from_ranges([s[0:2] for s in self.slices])

    @property
    def k_ranges(self):
        """The mask's k ranges (:class:`AttnRanges`, before padding)."""
        return AttnRanges.from_ranges([s[2:4] for s in self.slices])

    @property
    def attn_mask_type(self) -> tuple:
        """The mask's slice types (a tuple of :class:`AttnMaskType`, one per slice)."""
        return tuple(AttnMaskType.from_int_type(s[4]) for s in self.slices)

    @property
    def uneven_shard(self) -> bool:
        """``dist_attn_config.dispatch_config.uneven_shard``."""
        return bool(self.dist_attn_config.dispatch_config.uneven_shard)

    @property
    def padded_seqlen(self) -> int:
        """Total sequence length after padding (``total_seqlen_q`` for uneven shards)."""
        return self.runtime.padded_seqlen

    @property
    def shard_seqlen(self) -> int:
        """Rows of this rank's local shard: ``(total_seqlen_q + pad_size) / cp_size`` on every
        rank, or with ``DispatchConfig(uneven_shard=True)`` this rank's own (unequal) length."""
        return self.runtime.shard_seqlen

    @property
    def shard_seqlen_kv(self) -> int:
        """Rows of this rank's local k/v shard (``shard_seqlen`` in self-attention; with
        ``DispatchConfig(uneven_shard=True)`` ranks differ here too)."""
        return self.runtime.shard_seqlen_kv

    @property
    def pad_size_kv(self) -> int:
        """Padding rows appended to k/v (``pad_size`` in self-attention; 0 with uneven
        shards)."""
        return self.runtime.pad_size_kv


def _capacity() -> int:
    return int(os.environ.get("MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE", "1000"))


class KeyCache:
    """One LRU of keys per group id (MAGI_ATTENTION_DIST_ATTN_RUNTIME_DICT_SIZE per group).

    The group id is the group's ranks, and two process group objects may have the same ranks
    (one destroyed and made again, or two made side by side); a key runs on its own group's
    communicator, so the entries are (key, its communicator): equal keys of two groups are two
    entries. (A key holds its communicator, so the communicator's id is not reused while the
    entry lives.)"""

    def __init__(self) -> None:
        self._groups: dict[str, OrderedDict] = {}

    def get(self, probe: DistAttnRuntimeKey, comm) -> Optional[DistAttnRuntimeKey]:
        """The cached key equal to ``probe`` on communicator ``comm`` (moved to most recent),
        or None."""
        lru = self._groups.get(probe.group_id)
        if lru is None:
            return None
        entry = (probe, id(comm))
        key = lru.get(entry)
        if key is not None:
            lru.move_to_end(entry)
        return key

    def put(self, key: DistAttnRuntimeKey) -> None:
        """Inserts ``key`` as most recent, evicting the least recent beyond the capacity."""
        lru = self._groups.setdefault(key.group_id, OrderedDict())
        entry = (key, id(key.comm))
        lru[entry] = key
        lru.move_to_end(entry)
        while len(lru) > max(_capacity(), 1):
            lru.popitem(last=False)

    def most_recent(self, group_id: str, comm=None) -> Optional[DistAttnRuntimeKey]:
        """The most recently created or used key of the group (with ``comm``: on that
        communicator, i.e. that process group object), or None."""
        for key in reversed(self._groups.get(group_id, {}).values()):
            if comm is None or key.comm is comm:
                return key
        return None

    def clear(self, group_id: Optional[str] = None) -> None:
        """Forgets the keys of one group id, or of all groups."""
        if group_id is None:
            self._groups.clear()
        else:
            self._groups.pop(group_id, None)

    def __len__(self) -> int:
        return sum(len(lru) for lru in self._groups.values())


key_cache = KeyCache()

# Keys by a process-unique integer: how the custom ops of torch.compile (magi_attention._ops)
# name a key (an op argument is a tensor or a number, not an object). Held weakly: a key lives
# as long as the caller or the key cache holds it.
_keys_by_id: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_next_id = itertools.count(1)


def register_key(key: DistAttnRuntimeKey) -> DistAttnRuntimeKey:
    """Gives ``key`` its ``key_id`` (once) and returns it."""
    if key.key_id < 0:
        object.__setattr__(key, "key_id", next(_next_id))
        _keys_by_id[key.key_id] = key
    return key


def key_of_id(key_id: int) -> DistAttnRuntimeKey:
    """The live key of ``key_id`` (ValueError when it was released)."""
    key = _keys_by_id.get(key_id)
    if key is None:
        raise ValueError(f"key_id = {key_id}: no live key has this id (it was released, e.g. by "
                         "clear_cache()); make the key again")
    return key
