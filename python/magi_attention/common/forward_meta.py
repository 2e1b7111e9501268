"""AttnForwardMeta: what a forward returns besides out when asked for it (return_max_logits)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AttnForwardMeta:
    """``lse``: float32 ``[total_q, num_heads_q]`` (natural log, not differentiable).
    ``max_logits``: float32 ``[num_heads_q]``, each query head's largest score over the valid
    cells (after softmax_scale and softcap; the sink's logits excluded), ``-inf`` for a head
    with no valid cell, NaN when a valid cell's score is NaN; None unless asked for."""

    lse: torch.Tensor | None
    max_logits: torch.Tensor | None = None
