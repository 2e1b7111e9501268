"""Masks of bench_dist.py and the slice algebra its baselines need (pure Python, no torch).

A slice is ``(qs, qe, ks, ke, type)`` with type in ``"full", "causal", "inv_causal",
"bi_causal"`` and the semantics of ../shared/DESIGN.md §2 (CAUSAL: bottom-right aligned
diagonal). Every slice is a band ``{(q, k): q in [qs, qe), k in [ks, ke), dlo <= k - q < dhi}``;
``clip`` cuts a band to a box and re-expresses the cells with at most three typed slices.
"""

from __future__ import annotations

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MASKS = ("full", "causal", "varlen_full", "varlen_causal")
_INF = 1 << 62


def _doc_fractions():
    """Document boundaries of bench/cases.json's varlen cases, as fractions of the length (the
    cases scale one list of documents with S; the largest S has the finest fractions)."""
    cases = json.load(open(os.path.join(HERE, "cases.json")))["cases"]
    case = max((c for c in cases if c["name"] == "varlen_full"), key=lambda c: c["seqlen"])
    return [s[1] / case["seqlen"] for s in case["slices"]]


def make_mask(name: str, total: int) -> list:
    """The slices of mask `name` over `total` tokens (varlen: cases.json's documents scaled)."""
    if name not in MASKS:
        raise ValueError(f"mask {name!r}: expected one of {', '.join(MASKS)}")
    if total < 1:
        raise ValueError(f"total = {total}: must be >= 1")
    kind = "causal" if name.endswith("causal") else "full"
    if not name.startswith("varlen"):
        return [(0, total, 0, total, kind)]
    ends = sorted({min(total, max(1, round(f * total))) for f in _doc_fractions()} | {total})
    out, start = [], 0
    for end in ends:
        if end > start:
            out.append((start, end, start, end, kind))
            start = end
    return out


def _band(s):
    qs, qe, ks, ke, t = s
    dlo = ks - qs if t in ("inv_causal", "bi_causal") else -_INF
    dhi = ke - qe + 1 if t in ("causal", "bi_causal") else _INF
    return qs, qe, ks, ke, dlo, dhi


def clip(s, rows, cols) -> list:
    """The cells of slice `s` with q in rows = (r0, r1) and k in cols = (c0, c1), as at most
    three slices in global coordinates (none empty)."""
    qs, qe, ks, ke, dlo, dhi = _band(s)
    q0, q1 = max(qs, rows[0]), min(qe, rows[1])
    k0, k1 = max(ks, cols[0]), min(ke, cols[1])
    if q0 >= q1 or k0 >= k1 or dlo >= dhi:
        return []
    # Rows holding a cell: k0 < r + dhi and r + dlo < k1.
    q0, q1 = max(q0, k0 - dhi + 1), min(q1, k1 - dlo)
    if q0 >= q1:
        return []
    # Row r sees [max(k0, r + dlo), min(k1, r + dhi)): the lower end is diagonal from row
    # a = k0 - dlo on, the upper one until row b = k1 - dhi. Cut the rows there.
    a, b = k0 - dlo, k1 - dhi
    cuts = sorted({q0, q1, *(x for x in (a, b + 1) if q0 < x < q1)})
    out = []
    for s0, s1 in zip(cuts, cuts[1:]):
        lo_diag, hi_diag = s0 >= a, s1 - 1 <= b
        if lo_diag and hi_diag:
            out.append((s0, s1, s0 + dlo, s1 + dhi - 1, "bi_causal"))
        elif lo_diag:
            out.append((s0, s1, s0 + dlo, k1, "inv_causal"))
        elif hi_diag:
            out.append((s0, s1, k0, s1 + dhi - 1, "causal"))
        else:
            out.append((s0, s1, k0, k1, "full"))
    return out


def area(s) -> int:
    """Cells of one slice (row by row in closed form)."""
    total = 0
    for qs, qe, ks, ke, t in clip(s, (s[0], s[1]), (s[2], s[3])):
        n = qe - qs
        if t == "full":
            total += n * (ke - ks)
        elif t in ("causal", "inv_causal"):  # rows see 1.., or ..1 more keys; trimmed pieces
            first = (ke - qe + 1) - ks + qs if t == "causal" else ke - ks
            step = 1 if t == "causal" else -1
            total += n * first + step * n * (n - 1) // 2
        else:
            total += n * (ke - ks - n + 1)
    return total


def cells(slices) -> int:
    """Cells of a mask whose slices share no cell (true for every mask of make_mask)."""
    return sum(area(s) for s in slices)


def shift(s, dq: int, dk: int):
    """The slice moved by dq rows and dk columns."""
    return (s[0] + dq, s[1] + dq, s[2] + dk, s[3] + dk, s[4])
