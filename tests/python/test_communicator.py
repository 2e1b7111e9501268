"""TorchCommunicator moves rows between ranks exactly as the core's contract says."""

import pytest

from comm_workers import run
from dist_harness import run_ranks


@pytest.mark.parametrize("world_size", [2, 3])
def test_all_to_all_v(world_size):
    assert run_ranks(run, world_size, timeout=120) == [True] * world_size
