"""The module's backends: the CPU backend always, the CUDA one whenever a GPU can be used (the
CUDA library registers it when it is linked; nothing in the core names CUDA)."""

import torch

from magi_attention import _C


def test_backends_are_registered():
    names = _C.backends()
    assert names[0] == "cpu"
    if torch.cuda.is_available():
        assert "cuda" in names, names
