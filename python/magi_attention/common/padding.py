"""compute_pad_size: the padding of the global sequence (used by the API and by key creation)."""

from __future__ import annotations

from .._checks import check_int

__all__ = ["compute_pad_size"]


def compute_pad_size(total_seqlen_q: int, cp_size: int, head_dim: int,
                     chunk_size: int | None = None) -> int:
    """Rows to append so the sequence splits into ``cp_size * m`` chunks of ``chunk_size``.

    ``pad = (B - total_seqlen_q % B) % B`` with ``B = chunk_size * cp_size``. Called as in the
    seed, ``compute_pad_size(total_seqlen_q, cp_size, head_dim, chunk_size)``; the later
    three-argument form ``compute_pad_size(total_seqlen_q, cp_size, chunk_size)`` also works.
    ``head_dim`` only has to be a positive int.
    """
    if chunk_size is None:
        head_dim, chunk_size = None, head_dim
    total_seqlen_q = check_int("total_seqlen_q", total_seqlen_q, 0)
    cp_size = check_int("cp_size", cp_size, 1)
    if head_dim is not None:
        check_int("head_dim", head_dim, 1)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    block = chunk_size * cp_size
    return (block - total_seqlen_q % block) % block
