"""The backward of this package's autograd functions is differentiable once:
``differentiable_once`` makes a second derivative raise a clear error. (torch's
``once_differentiable`` does so only when the incoming gradient requires grad; under
``create_graph=True`` the first gradient of a loss usually does not, and the saved inputs alone
would leave torch's generic "does not require grad" error, or a second derivative that misses
these functions' part.)"""

from __future__ import annotations

import functools

import torch

_MESSAGE = (b"magi_attention: the backward of attention, dispatch, undispatch and roll is not "
            b"differentiable (no second derivative; create_graph=True gives first gradients only)")


def differentiable_once(backward):
    """Decorates a ``torch.autograd.Function.backward``: runs it without recording, and under
    ``create_graph=True`` returns gradients whose own backward raises the error above."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        create_graph = torch.is_grad_enabled()
        with torch.no_grad():
            outputs = backward(ctx, *grads)
        delayed = getattr(torch._C._functions, "DelayedError", None)
        if not create_graph or delayed is None:
            return outputs
        tensors = [o for o in outputs if isinstance(o, torch.Tensor)]
        if not tensors:
            return outputs
        marked = delayed(_MESSAGE, len(tensors))(*[t.detach().requires_grad_() for t in tensors])
        marked = iter((marked,) if isinstance(marked, torch.Tensor) else marked)
        return tuple(next(marked) if isinstance(o, torch.Tensor) else o for o in outputs)

    return wrapper
