"""Data types shared by the API: mask types, overlap modes, token ranges."""

from .enum import AttnMaskType, AttnOverlapMode
from .ranges import AttnRange, AttnRanges, RangeError

__all__ = ["AttnMaskType", "AttnOverlapMode", "AttnRange", "AttnRanges", "RangeError"]
