"""A cached key does no planning: re-creating it returns the same key, and calc_attn with it
never calls the planner (make_flex_key is replaced by a function that fails). Prints the host
time per call (run pytest with -s to see it)."""

import pytest

from dist_harness import run_ranks
from key_cache_workers import run, run_new_group


@pytest.mark.parametrize("world_size", [1, 2])
def test_cached_key_does_no_planning(world_size):
    res = run_ranks(run, world_size, 200, timeout=300)[0]
    print(f"\ncp={world_size}: first key {res['first_key_s'] * 1e3:.3f} ms, cached key "
          f"{res['cached_key_s'] * 1e6:.1f} us, calc_attn (fwd, autograd wrapper) "
          f"{res['calc_attn_s'] * 1e6:.1f} us/call, core call alone "
          f"{res['core_call_s'] * 1e6:.1f} us/call")
    assert res["cached_key_s"] < res["first_key_s"]


@pytest.mark.parametrize("world_size", [1, 2])
def test_key_follows_its_group_object(world_size):
    assert run_ranks(run_new_group, world_size, timeout=300) == [True] * world_size
