"""Ranks that disagree on the mask or the lengths get an error naming the difference at key
creation, on every rank (issue 15, item 6: different masks gave silently wrong results, different
lengths aborted inside gloo); MAGI_ATTENTION_CHECK_KEY_CONSISTENCY=0 turns the check off."""

from dist_harness import run_ranks
from key_agreement_workers import count_exchanges, make_keys, make_keys_unchecked

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


def test_new_key_checks_once_and_cached_key_costs_nothing():
    """One exchange for the check of a new key; a cached key makes none."""
    assert run_ranks(count_exchanges, 2, timeout=120) == [[1, 0], [1, 0]]


def test_check_can_be_switched_off():
    results = run_ranks(make_keys_unchecked, 2, [[A, B]], timeout=120)
    assert results == [[""], [""]]
