"""Configs of distributed attention: frozen, hashable dataclasses validated on construction.

They are the seed's user-facing classes over the core's own types (``include/magi/config.h``,
bound as ``_C.DistAttnConfig`` & co.): ``_to_core()`` converts a config into its bound type,
and the core's ``validate()`` holds the one set of value rules (errors are ``MagiError``, a
ValueError, naming the field). Here only types are checked (TypeError naming the argument).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ._ext import core
from .common.enum import AttnOverlapMode

__all__ = [
    "DispatchAlg", "MinHeapDispatchAlg", "SequentialDispatchAlg", "SortedSequentialSelectAlg",
    "ToppHeapDispatchAlg", "ExactDispatchAlg", "OverlapAlg", "UniformOverlapAlg",
    "GreedyOverlapAlg", "DispatchConfig", "OverlapConfig", "DistAttnConfig",
]


def _check_int(owner: str, name: str, value, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}.{name}: expected an int{' or None' if optional else ''}, "
                        f"got {type(value).__name__}")


def _check_float(owner: str, name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}.{name}: expected a float, got {type(value).__name__}")


def _check_bool(owner: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}.{name}: expected a bool, got {type(value).__name__}")


_C = core()


# ---- dispatch algorithms ---------------------------------------------------------------------
@dataclass(frozen=True)
class DispatchAlg:
    """Base of the dispatch algorithms (chunks -> ranks, equal chunk count per rank)."""

    _core_type = None  # the member of _C.DispatchAlgType

    def __post_init__(self) -> None:
        if self._core_type is not None:
            self._to_core().validate()

    def _to_core(self):
        """This algorithm as the core's ``_C.DispatchAlg``."""
        if self._core_type is None:
            raise TypeError(f"{type(self).__name__}: use one of the concrete dispatch algorithms")
        alg = _C.DispatchAlg()
        alg.type = getattr(_C.DispatchAlgType, self._core_type)
        return alg


@dataclass(frozen=True)
class MinHeapDispatchAlg(DispatchAlg):
    """The default: largest chunk first onto the least-loaded rank that still has room."""

    _core_type = "min_heap"


@dataclass(frozen=True)
class SequentialDispatchAlg(DispatchAlg):
    """Contiguous blocks of chunks per rank (the ring-attention layout)."""

    _core_type = "sequential"


@dataclass(frozen=True)
class SortedSequentialSelectAlg(DispatchAlg):
    """Keeps a document's chunks together; ``allocation_ratio`` in ``(0, 1]``."""

    allocation_ratio: float = 1.0
    _core_type = "sorted_sequential_select"

    def __post_init__(self) -> None:
        _check_float(type(self).__name__, "allocation_ratio", self.allocation_ratio)
        super().__post_init__()

    def _to_core(self):
        alg = super()._to_core()
        alg.allocation_ratio = float(self.allocation_ratio)
        return alg


@dataclass(frozen=True)
class ToppHeapDispatchAlg(DispatchAlg):
    """Among the top-p least-loaded ranks, the one sharing most k ranges; ``top_p`` in
    ``[0, 1]``."""

    top_p: float = 0.0
    _core_type = "topp_heap"

    def __post_init__(self) -> None:
        _check_float(type(self).__name__, "top_p", self.top_p)
        super().__post_init__()

    def _to_core(self):
        alg = super()._to_core()
        alg.top_p = float(self.top_p)
        return alg


@dataclass(frozen=True)
class ExactDispatchAlg(DispatchAlg):
    """Optimal by branch and bound; for small inputs and tests."""

    _core_type = "exact"


# ---- overlap algorithms ----------------------------------------------------------------------
@dataclass(frozen=True)
class OverlapAlg:
    """Base of the overlap algorithms (remote K/V chunks -> overlap stages)."""

    _core_type = None  # the member of _C.OverlapAlgType

    def _to_core(self):
        """This algorithm as the core's ``_C.OverlapAlg``."""
        if self._core_type is None:
            raise TypeError(f"{type(self).__name__}: use one of the concrete overlap algorithms")
        alg = _C.OverlapAlg()
        alg.type = getattr(_C.OverlapAlgType, self._core_type)
        return alg


@dataclass(frozen=True)
class UniformOverlapAlg(OverlapAlg):
    """Remote chunks cut into equal-count stages in order; ``random_costs=True`` shuffles them
    first with ``random_seed``."""

    random_costs: bool = False
    random_seed: Optional[int] = None
    _core_type = "uniform"

    def __post_init__(self) -> None:
        _check_bool("UniformOverlapAlg", "random_costs", self.random_costs)
        _check_int("UniformOverlapAlg", "random_seed", self.random_seed, optional=True)
        if self.random_seed is not None and self.random_seed < 0:  # the core's seed is unsigned
            raise ValueError(f"UniformOverlapAlg.random_seed = {self.random_seed}: must be >= 0")

    def _to_core(self):
        alg = super()._to_core()
        alg.random_costs = self.random_costs
        alg.random_seed = self.random_seed
        return alg


@dataclass(frozen=True)
class GreedyOverlapAlg(OverlapAlg):
    """Stages balanced against the host stage's compute."""

    _core_type = "greedy"


# ---- configs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DispatchConfig:
    """How the (padded) sequence is cut into chunks and placed on ranks.

    Args:
        alg: a :class:`DispatchAlg` (default :class:`MinHeapDispatchAlg`).
        chunk_size: tokens per chunk; ``None`` lets key creation choose (or takes the key
            function's ``chunk_size``).
        uneven_shard: False (default): the sequence is padded to a multiple of
            ``chunk_size * cp_size`` and every rank holds ``padded / cp_size`` rows. True: no
            padding; ``ceil(total / chunk_size)`` chunks (the last one may be short) go to the
            ranks with at most one chunk more on some, so local lengths differ per rank
            (``key.shard_seqlen``; a cross-attention key's k/v too, ``key.shard_seqlen_kv``).
            Needs at least ``cp_size`` chunks (every rank holds a chunk; on both sides in
            cross-attention) and an algorithm without an equal-count rule:
            :class:`MinHeapDispatchAlg` or :class:`SequentialDispatchAlg` (ValueError otherwise).
    """

    alg: DispatchAlg = field(default_factory=MinHeapDispatchAlg)
    chunk_size: Optional[int] = None
    uneven_shard: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.alg, DispatchAlg) or type(self.alg) is DispatchAlg:
            raise TypeError(f"DispatchConfig.alg: expected a DispatchAlg such as "
                            f"MinHeapDispatchAlg(), got {self.alg!r}")
        _check_int("DispatchConfig", "chunk_size", self.chunk_size, optional=True)
        _check_bool("DispatchConfig", "uneven_shard", self.uneven_shard)
        self._to_core().validate()

    def _to_core(self):
        """This config as the core's ``_C.DispatchConfig``."""
        c = _C.DispatchConfig()
        c.alg = self.alg._to_core()
        c.chunk_size = self.chunk_size
        c.uneven_shard = self.uneven_shard
        return c


@dataclass(frozen=True)
class OverlapConfig:
    """Overlap of remote K/V communication with attention compute.

    Args:
        enable: False disables overlap (degree 0: one blocking fetch, one kernel call).
        mode: :class:`AttnOverlapMode` ``STATIC`` (``degree`` stages) or ``DYNAMIC`` (degree from
            a cost model, at most ``dynamic_max_degree``; ``degree`` must be None).
        degree: 0 no overlap, 1 host stage plus one remote stage, N remote stages.
        dynamic_max_degree: upper bound in dynamic mode.
        min_chunk_size: smallest remote chunk (tokens) the overlap solver cuts.
        max_num_chunks: most remote chunks the overlap solver considers (>= degree).
        alg: an :class:`OverlapAlg` (default :class:`UniformOverlapAlg`).
        calc_cost_factor: cost per mask cell (dynamic mode).
        comm_cost_factor: cost per remote token (dynamic mode).
    """

    enable: bool = True
    mode: AttnOverlapMode = AttnOverlapMode.STATIC
    degree: Optional[int] = 1
    dynamic_max_degree: Optional[int] = 8
    min_chunk_size: int = 512
    max_num_chunks: int = 64
    alg: OverlapAlg = field(default_factory=UniformOverlapAlg)
    calc_cost_factor: float = 1.0
    comm_cost_factor: float = 1.0

    def __post_init__(self) -> None:
        owner = "OverlapConfig"
        _check_bool(owner, "enable", self.enable)
        if isinstance(self.mode, str):
            try:
                object.__setattr__(self, "mode", AttnOverlapMode(self.mode))
            except ValueError:
                raise ValueError(f"{owner}.mode = {self.mode!r}: expected 'static' or "
                                 "'dynamic'") from None
        if not isinstance(self.mode, AttnOverlapMode):
            raise TypeError(f"{owner}.mode: expected an AttnOverlapMode, got {self.mode!r}")
        _check_int(owner, "degree", self.degree, optional=True)
        _check_int(owner, "dynamic_max_degree", self.dynamic_max_degree, optional=True)
        _check_int(owner, "min_chunk_size", self.min_chunk_size)
        _check_int(owner, "max_num_chunks", self.max_num_chunks)
        if not isinstance(self.alg, OverlapAlg) or type(self.alg) is OverlapAlg:
            raise TypeError(f"{owner}.alg: expected an OverlapAlg such as UniformOverlapAlg(), "
                            f"got {self.alg!r}")
        for name in ("calc_cost_factor", "comm_cost_factor"):
            _check_float(owner, name, getattr(self, name))
        self._to_core().validate()

    @property
    def no_overlap(self) -> bool:
        """True when communication is not overlapped (``enable=False`` or ``degree=0``)."""
        return not self.enable or self.degree == 0

    def _to_core(self):
        """This config as the core's ``_C.OverlapConfig``."""
        c = _C.OverlapConfig()
        c.enable = self.enable
        c.mode = getattr(_C.AttnOverlapMode, self.mode.value)
        c.degree = self.degree
        c.dynamic_max_degree = self.dynamic_max_degree
        c.min_chunk_size = self.min_chunk_size
        c.max_num_chunks = self.max_num_chunks
        c.alg = self.alg._to_core()
        c.calc_cost_factor = float(self.calc_cost_factor)
        c.comm_cost_factor = float(self.comm_cost_factor)
        return c


@dataclass(frozen=True)
class DistAttnConfig:
    """Configuration of distributed attention, part of the runtime key.

    Args:
        dispatch_config: a :class:`DispatchConfig`.
        overlap_config: an :class:`OverlapConfig`.
        high_bandwith_domain_size: ranks per high-bandwidth domain (the seed's spelling);
            accepted and validated (>= 1), not yet used by the planner.
    """

    dispatch_config: DispatchConfig = field(default_factory=DispatchConfig)
    overlap_config: OverlapConfig = field(default_factory=OverlapConfig)
    high_bandwith_domain_size: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.dispatch_config, DispatchConfig):
            raise TypeError("DistAttnConfig.dispatch_config: expected a DispatchConfig, got "
                            f"{type(self.dispatch_config).__name__}")
        if not isinstance(self.overlap_config, OverlapConfig):
            raise TypeError("DistAttnConfig.overlap_config: expected an OverlapConfig, got "
                            f"{type(self.overlap_config).__name__}")
        _check_int("DistAttnConfig", "high_bandwith_domain_size", self.high_bandwith_domain_size)
        self._to_core().validate()

    def _to_core(self):
        """This config as the core's ``_C.DistAttnConfig`` (what ``_C.make_flex_key`` takes)."""
        c = _C.DistAttnConfig()
        c.dispatch_config = self.dispatch_config._to_core()
        c.overlap_config = self.overlap_config._to_core()
        c.high_bandwith_domain_size = self.high_bandwith_domain_size
        return c
