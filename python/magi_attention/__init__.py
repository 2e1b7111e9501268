"""magi_attention: context-parallel flexible attention over a C++/CUDA core.

Start with :mod:`magi_attention.api` (the seed's API) and
:func:`magi_attention.functional.flex_flash_attn.flex_flash_attn_func`.
"""

__version__ = "0.1.0"

from . import api, config, functional  # noqa: E402,F401
from .functional.flex_flash_attn import flex_flash_attn_func  # noqa: E402,F401

__all__ = ["api", "config", "functional", "flex_flash_attn_func", "__version__"]
