#include "mask/band.h"

#include <algorithm>

namespace magi::mask {
namespace {

int64_t clamp(int64_t x, int64_t lo, int64_t hi) { return std::min(std::max(x, lo), hi); }

// Sum over rows r in [a, b) of (r * slope + c), slope in {-1, 0, 1}.
int64_t linear_sum(int64_t a, int64_t b, int64_t slope, int64_t c) {
  if (b <= a) return 0;
  const int64_t n = b - a;
  // sum of r over [a, b) = n * (a + b - 1) / 2, exact because n * (a + b - 1) is even.
  return slope * (n * (a + b - 1) / 2) + c * n;
}

}  // namespace

Band Band::from_slice(const AttnSlice& s) {
  Band b{s.q, s.k};
  const bool lower = s.type == AttnMaskType::kInvCausal || s.type == AttnMaskType::kBiCausal;
  const bool upper = s.type == AttnMaskType::kCausal || s.type == AttnMaskType::kBiCausal;
  // INVCAUSAL: k - ks >= q - qs. CAUSAL: k - ks <= q - qs + (Sk - Sq), i.e. k - q < ke - qe + 1.
  if (lower) b.dlo = s.k.start - s.q.start;
  if (upper) b.dhi = s.k.end - s.q.end + 1;
  return b;
}

AttnRange Band::row_keys(int64_t row) const {
  const int64_t lo = std::max(k.start, row + dlo);
  const int64_t hi = std::min(k.end, row + dhi);
  return lo < hi ? AttnRange{lo, hi} : AttnRange{};
}

Band Band::trimmed() const {
  if (empty()) return {};
  Band b = *this;
  // Row r holds a cell iff k.start < r + dhi and r + dlo < k.end.
  b.q = q.intersect({k.start - dhi + 1, k.end - dlo});
  if (b.q.empty()) return {};
  // lo and hi are non-decreasing in the row and consecutive rows' intervals touch, so the
  // columns in use are [lo(first row), hi(last row)).
  b.k = {row_keys(b.q.start).start, row_keys(b.q.end - 1).end};
  if (b.dlo <= b.k.start - (b.q.end - 1)) b.dlo = -kNoBound;  // never binds
  if (b.dhi >= b.k.end - b.q.start) b.dhi = kNoBound;         // never binds
  return b;
}

int64_t Band::area() const {
  const Band b = trimmed();
  if (b.empty()) return 0;
  // Rows >= lo_diag have lo = r + dlo; rows < hi_diag have hi = r + dhi.
  const int64_t q0 = b.q.start, q1 = b.q.end;
  const int64_t lo_diag = clamp(b.k.start - b.dlo, q0, q1);
  const int64_t hi_diag = clamp(b.k.end - b.dhi, q0, q1);
  const int64_t cuts[4] = {q0, std::min(lo_diag, hi_diag), std::max(lo_diag, hi_diag), q1};
  int64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    const int64_t a = cuts[i], e = cuts[i + 1];
    if (e <= a) continue;
    const bool lo_d = a >= lo_diag, hi_d = e <= hi_diag;
    const int64_t slope = (hi_d ? 1 : 0) - (lo_d ? 1 : 0);
    const int64_t c = (hi_d ? b.dhi : b.k.end) - (lo_d ? b.dlo : b.k.start);
    total += linear_sum(a, e, slope, c);
  }
  return total;
}

Band Band::intersect(const Band& o) const {
  return {q.intersect(o.q), k.intersect(o.k), std::max(dlo, o.dlo), std::min(dhi, o.dhi)};
}

std::vector<AttnSlice> to_slices(const Band& band) {
  const Band b = band.trimmed();
  if (b.empty()) return {};
  // Rows < a_row have a binding upper diagonal (kept as CAUSAL, whose last row then ends at
  // ke = row + dhi); rows >= b_row a binding lower diagonal (INVCAUSAL, ks = first row + dlo).
  const int64_t q0 = b.q.start, q1 = b.q.end;
  const int64_t a_row = b.dhi == kNoBound ? q0 : clamp(b.k.end - b.dhi + 1, q0, q1);
  const int64_t b_row = b.dlo == -kNoBound ? q1 : clamp(b.k.start - b.dlo, q0, q1);
  const int64_t cuts[4] = {q0, std::min(a_row, b_row), std::max(a_row, b_row), q1};
  std::vector<AttnSlice> out;
  for (int i = 0; i < 3; ++i) {
    const int64_t s = cuts[i], e = cuts[i + 1];
    if (e <= s) continue;
    const bool upper = e <= a_row, lower = s >= b_row;
    AttnSlice sl{{s, e}, b.k, AttnMaskType::kFull};
    if (upper) sl.k.end = e + b.dhi - 1;
    if (lower) sl.k.start = s + b.dlo;
    sl.type = upper && lower ? AttnMaskType::kBiCausal
              : upper        ? AttnMaskType::kCausal
              : lower        ? AttnMaskType::kInvCausal
                             : AttnMaskType::kFull;
    out.push_back(sl);
  }
  return out;
}

std::vector<Band> subtract(const Band& a_in, const Band& b_in) {
  const Band a = a_in.trimmed();
  if (a.empty()) return {};
  const Band b = b_in.trimmed();
  if (b.empty() || a.intersect(b).trimmed().empty()) return {a};
  std::vector<Band> out;
  auto keep = [&out](const Band& x) {
    const Band t = x.trimmed();
    if (!t.empty()) out.push_back(t);
  };
  // Rows outside b keep all their cells.
  keep(a.with_rows({a.q.start, b.q.start}));
  keep(a.with_rows({b.q.end, a.q.end}));
  // Inside b's rows (each of which holds a cell of b, so lo_b < hi_b) the complement of b is
  // {k < lo_b(r)} and {k >= hi_b(r)}, disjoint. lo_b is k.start before row k.start - dlo and
  // r + dlo after; hi_b is r + dhi before row k.end - dhi and k.end after.
  const AttnRange rows = a.q.intersect(b.q);
  const int64_t lo_switch = clamp(b.k.start - b.dlo, rows.start, rows.end);
  const int64_t hi_switch = clamp(b.k.end - b.dhi, rows.start, rows.end);
  const int64_t cuts[4] = {rows.start, std::min(lo_switch, hi_switch),
                           std::max(lo_switch, hi_switch), rows.end};
  for (int i = 0; i < 3; ++i) {
    const AttnRange seg{cuts[i], cuts[i + 1]};
    if (seg.empty()) continue;
    Band part = a.with_rows(seg);
    Band below = part, above = part;
    if (seg.start >= lo_switch) {
      below.dhi = std::min(below.dhi, b.dlo);
    } else {
      below.k = below.k.intersect({below.k.start, b.k.start});
    }
    if (seg.end <= hi_switch) {
      above.dlo = std::max(above.dlo, b.dhi);
    } else {
      above.k = above.k.intersect({b.k.end, above.k.end});
    }
    keep(below);
    keep(above);
  }
  return out;
}

}  // namespace magi::mask
