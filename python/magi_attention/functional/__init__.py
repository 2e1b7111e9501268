"""Differentiable building blocks: the single-device FFA kernel, the distributed steps, and
the log-sum-exp merges of partial results (``functional.utils``, the original's names)."""

from .flex_flash_attn import flex_flash_attn_func
from .utils import (correct_attn_lse, correct_attn_lse_with_sink, correct_attn_out,
                    correct_attn_out_lse, correct_attn_out_lse_with_sink,
                    correct_attn_out_with_sink)

__all__ = [
    "flex_flash_attn_func", "correct_attn_lse", "correct_attn_out", "correct_attn_out_lse",
    "correct_attn_lse_with_sink", "correct_attn_out_with_sink", "correct_attn_out_lse_with_sink",
]
