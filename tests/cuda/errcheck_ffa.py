"""Device diagnostic: an error raised in the core (std::ostringstream in
magi::detail::throw_error) must reach Python as MagiError inside a torch process, not crash it.
  PYTHONPATH=python python3 tests/cuda/errcheck_ffa.py
"""
import faulthandler

import torch

from magi_attention.functional import flex_flash_attn as ffa

faulthandler.enable()
dev = "cuda" if torch.cuda.is_available() else "cpu"
q = torch.randn(10, 2, 64, device=dev, dtype=torch.bfloat16)
sl = ffa._get_slices(torch.tensor([[0, 10]], dtype=torch.int32),
                     torch.tensor([[0, 10]], dtype=torch.int32), None)
bad_out = torch.empty(10, 3, 64, device=dev, dtype=torch.bfloat16)  # wrong head count
try:
    ffa.ffa_forward(q, q, q, sl, 0.125, 0.0, out=bad_out)
    print("no error?!")
except Exception as e:  # noqa: BLE001
    print("error path ok:", type(e).__name__, str(e)[:150], flush=True)
