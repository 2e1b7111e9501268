"""Data types shared by the API: mask types, overlap modes, token ranges."""

from .enum import AttnMaskType, AttnOverlapMode, AttnRole
from .forward_meta import AttnForwardMeta
from .ranges import AttnRange, AttnRanges, RangeError

__all__ = ["AttnForwardMeta", "AttnMaskType", "AttnOverlapMode", "AttnRange", "AttnRanges", "RangeError",
           "AttnRole"]
