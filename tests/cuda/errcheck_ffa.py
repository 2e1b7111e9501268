import torch, sys
sys.path.insert(0, "python")
from magi_attention import _C
from magi_attention._tensor import tensor_desc as td
from magi_attention.functional.flex_flash_attn import _get_slices
q = torch.randn(10, 2, 64, device="cuda", dtype=torch.bfloat16)
sl = _get_slices(torch.tensor([[0, 10]], dtype=torch.int32), torch.tensor([[0, 10]], dtype=torch.int32), None)
bad = torch.empty(10, 3, 64, device="cuda", dtype=torch.bfloat16)
try:
    _C.ffa_forward(td(q), td(q), td(q), sl, td(bad), td(torch.empty(10, 2, device="cuda")), 0.0, 0.0, False, 0)
    print("no error?!")
except Exception as e:
    print("error path ok:", type(e).__name__, str(e)[:150])
