"""Ranks that disagree on the mask or the lengths get an error naming the difference at key
creation, on every rank (issue 15, item 6: different masks gave silently wrong results, different
lengths aborted inside gloo); MAGI_ATTENTION_CHECK_KEY_CONSISTENCY=0 turns the check off."""

from dist_harness import run_ranks
from key_agreement_workers import make_keys, make_keys_unchecked

A = ([[0, 32]], 32)
B = ([[0, 16], [16, 32]], 32)
LONGER = ([[0, 40]], 40)


def test_different_masks_raise_on_every_rank():
    results = run_ranks(make_keys, 2, [[A, B]], timeout=120)
    for errors in results:
        assert "ranks of the group disagree on the mask" in errors[0], errors
        assert errors[0] == results[0][0]


def test_different_lengths_raise_on_every_rank():
    results = run_ranks(make_keys, 2, [[A, LONGER]], timeout=120)
    for errors in results:
        assert "total_seqlen_q: rank 0 has 32, rank 1 has 40" in errors[0], errors


def test_key_cached_on_one_rank_only():
    """Rank 0 makes A twice (the second call is a cache hit), rank 1 makes A then B: the hit on
    rank 0 still takes part in the check, which names the mask."""
    results = run_ranks(make_keys, 2, [[A, A], [A, B]], timeout=120)
    for errors in results:
        assert errors[0] == "", errors
        assert "disagree on the mask" in errors[1], errors


def test_check_can_be_switched_off():
    results = run_ranks(make_keys_unchecked, 2, [[A, B]], timeout=120)
    assert results == [[""], [""]]
