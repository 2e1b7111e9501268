"""magi_attention: C++/CUDA MagiAttention (flexible flash attention and context parallelism)."""
from . import functional  # noqa: F401
from .functional import flex_flash_attn_func  # noqa: F401

__all__ = ["flex_flash_attn_func"]
