"""The original's module path of :class:`AttnRange` (``magi_attention.common.range``)."""

from .ranges import AttnRange, RangeError

__all__ = ["AttnRange", "RangeError"]
