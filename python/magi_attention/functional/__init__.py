from .flex_flash_attn import flex_flash_attn_func  # noqa: F401

__all__ = ["flex_flash_attn_func"]
