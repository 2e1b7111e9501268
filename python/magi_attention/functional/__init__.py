"""Differentiable building blocks: the single-device FFA kernel and the distributed steps."""

from .flex_flash_attn import flex_flash_attn_func

__all__ = ["flex_flash_attn_func"]
