// CPU FFA forward: per (query head, block of kBlockRows rows), scores against the block's
// compact key columns, an exact two-pass softmax per row, then P·V.
//
// Non-finite values (DESIGN.md §6): a row whose scores hold a NaN (or a +inf) gets out = NaN
// and lse = NaN; a row whose weights are all zero (no cell, or every score -inf) gets out = 0
// and lse = -inf. A row's result depends on its own cells only: a non-finite V row of a key
// outside the row must not reach it through 0 * NaN in the block's P·V, so the kv heads whose V
// holds a non-finite value are computed one row at a time (their blocks then have no masked
// columns), which keeps a single device and the merged partials of CP ranks in agreement.
//
// max_logits: each work item (one head, some rows) keeps its own maximum, reduced per head in a
// fixed order after the items, so the result is exact and needs no locking.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/cpu/convert.h"
#include "kernels/cpu/ffa_cpu.h"
#include "kernels/cpu/lse_merge.h"
#include "kernels/cpu/max_logits.h"
#include "kernels/cpu/packed_operand.h"
#include "kernels/cpu/panel_kernels.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/row_keys.h"
#include "kernels/cpu/row_softmax.h"

namespace magi::cpu {
namespace {

constexpr int64_t kBlocksPerItem = 16;          // row blocks per work item
constexpr double kMinFlopsPerThread = 1 << 22;  // below this a thread costs more than it saves

struct ForwardArgs {
  const TensorView& q;
  const TensorView& out;
  const TensorView& lse;
  bool accumulate;
};

/// Scratch reused by the blocks of one work item.
template <typename Acc>
struct ForwardScratch {
  BlockCols cols;
  std::vector<Acc> qb;                   // [kBlockRows, dpq] scaled query rows
  std::vector<Acc> s;                    // [kBlockRows, lds] scores, then probabilities
  std::vector<Acc> o;                    // [kBlockRows, dpv] unnormalised output
  std::vector<double> row_new, row_old;  // [dv] merge buffers
  int64_t lds = 0;

  /// dpq, dpv: q's and v's head dims padded (pad_lanes); dv: v's head dim.
  ForwardScratch(int64_t dpq, int64_t dpv, int64_t sk, int64_t dv)
      : qb(kBlockRows * dpq), o(kBlockRows * dpv), row_new(dv), row_old(dv) {
    lds = pad_lanes<Acc>(sk + kLanes<Acc>);
    s.resize(static_cast<size_t>(kBlockRows * lds));
  }
};

/// Writes one finished row of d (v's head dim) elements: the normalised output and its lse
/// (-inf and zeros when empty).
template <typename Acc>
void write_row(const ForwardArgs& a, int64_t d, int64_t row, int64_t h, const Acc* o, Acc lse,
               ForwardScratch<Acc>& w) {
  void* out_ptr = element_ptr(a.out, row, h);
  if (!a.accumulate) {
    store_row(o, d, a.out.dtype, out_ptr);
    store_scalar(static_cast<double>(lse), a.lse, row, h);
    return;
  }
  const LseMerge m = lse_merge(load_scalar(a.lse, row, h), static_cast<double>(lse));
  if (m.keep1) return;
  for (int64_t e = 0; e < d; ++e) w.row_new[e] = static_cast<double>(o[e]);
  load_row(out_ptr, a.out.dtype, d, w.row_old.data());
  apply_lse_merge(m, w.row_old.data(), w.row_new.data(), d);
  store_row(w.row_old.data(), d, a.out.dtype, out_ptr);
  store_scalar(m.lse, a.lse, row, h);
}

/// The largest score of a row (softcapped, before the exp) with NaN kept: row_max skips NaN,
/// so a +inf maximum (whose weights masked_exp makes NaN anyway) is checked by a scan.
template <typename Acc>
double row_logit_max(const Acc* s, std::span<const AttnRange> regions, Acc max) {
  if (max != std::numeric_limits<Acc>::infinity()) return static_cast<double>(max);
  for (const AttnRange& r : regions) {
    for (int64_t c = r.start; c < r.end; ++c) {
      if (std::isnan(s[c])) return std::numeric_limits<double>::quiet_NaN();
    }
  }
  return static_cast<double>(max);
}

/// Rows [row0, row0 + n) of query head h, n <= kBlockRows. `logit_max` (nullptr: not wanted)
/// is merged with the block's largest score.
template <typename Acc>
void forward_block(const ForwardArgs& a, const AttnDims& dims, const RowKeys& keys,
                   const Packed<Acc>& kt, const Packed<Acc>& vr, int64_t h, int64_t row0, int n,
                   ForwardScratch<Acc>& w, double* logit_max) {
  constexpr Acc kNegInf = -std::numeric_limits<Acc>::infinity();
  const int64_t d = dims.d, dv = dims.dv, dpq = pad_lanes<Acc>(d), dpv = vr.ld;
  const int64_t g = h / dims.group;
  w.cols.build(keys, row0, n);
  const int64_t cols = w.cols.cols();

  std::fill(w.o.begin(), w.o.end(), Acc{0});
  if (cols == 0) {
    for (int r = 0; r < n; ++r) write_row(a, dv, row0 + r, h, w.o.data(), kNegInf, w);
    return;
  }
  std::fill(w.qb.begin(), w.qb.end(), Acc{0});
  for (int r = 0; r < n; ++r) {
    Acc* qr = w.qb.data() + r * dpq;
    load_row(element_ptr(a.q, row0 + r, h), a.q.dtype, d, qr);
    for (int64_t e = 0; e < d; ++e) qr[e] *= static_cast<Acc>(dims.scale);
  }
  panel_dot(w.qb.data(), dpq, d, kt.head(g), w.cols.segments(), w.s.data(), w.lds);

  Acc maxes[kBlockRows], sums[kBlockRows];
  for (int r = 0; r < kBlockRows; ++r) {
    Acc* sr = w.s.data() + r * w.lds;
    const auto regions = r < n ? w.cols.row_cols(r) : std::span<const AttnRange>{};
    if (dims.softcap > 0)
      softcap_row(sr, regions, static_cast<Acc>(dims.softcap), static_cast<Acc*>(nullptr));
    maxes[r] = row_max(sr, regions);
    double row_logit = 0;
    if (logit_max != nullptr) row_logit = row_logit_max(sr, regions, maxes[r]);
    sums[r] = masked_exp(sr, regions, cols, maxes[r] == kNegInf ? Acc{0} : maxes[r]);
    // NOTE: with a finite (or -inf) maximum a NaN sum can only come from a NaN score, which
    // row_max skipped.
    if (logit_max != nullptr) {
      if (std::isnan(sums[r]) && maxes[r] != std::numeric_limits<Acc>::infinity()) {
        row_logit = std::numeric_limits<double>::quiet_NaN();
      }
      *logit_max = nan_max(*logit_max, row_logit);
    }
  }
  panel_gemm(w.s.data(), w.lds, w.cols.segments(), vr.head(g), dpv, dpv, w.o.data(), dpv);

  for (int r = 0; r < n; ++r) {
    Acc* orow = w.o.data() + r * dpv;
    Acc lse = kNegInf;
    // NOTE: a NaN sum is not an empty row: it makes lse and out NaN below (1 / NaN).
    if (sums[r] == 0) {
      std::fill(orow, orow + dv, Acc{0});
    } else {
      const Acc inv = Acc{1} / sums[r];
      for (int64_t e = 0; e < dv; ++e) orow[e] *= inv;
      lse = maxes[r] + std::log(sums[r]);
    }
    write_row(a, dv, row0 + r, h, orow, lse, w);
  }
}

template <typename Acc>
void forward_impl(const ForwardArgs& a, const TensorView& k, const TensorView& v,
                  const AttnDims& dims, const RowKeys& keys, const TensorView& max_logits) {
  int64_t cells = 0;
  for (int64_t r = 0; r < dims.sq; ++r) cells += keys.cells(r);
  const int threads =
      threads_for(double(cells) * double(dims.hq * (dims.d + dims.dv)), kMinFlopsPerThread);
  const Packed<Acc> kt = pack_key_blocks<Acc>(k, threads);
  const Packed<Acc> vr = pack_rows<Acc>(v, threads);
  const std::vector<bool> v_finite = heads_finite(vr, dims.hkv);

  const int64_t blocks = (dims.sq + kBlockRows - 1) / kBlockRows;
  const int64_t items_per_head = (blocks + kBlocksPerItem - 1) / kBlocksPerItem;
  const bool want_max = max_logits.ndim > 0;
  std::vector<double> item_max(want_max ? static_cast<size_t>(dims.hq * items_per_head) : 0,
                               -std::numeric_limits<double>::infinity());
  parallel_for(dims.hq * items_per_head, threads, [&](int64_t item) {
    const int64_t h = item / items_per_head;
    const int64_t b0 = item % items_per_head * kBlocksPerItem;
    const int64_t b1 = std::min(blocks, b0 + kBlocksPerItem);
    ForwardScratch<Acc> w(pad_lanes<Acc>(dims.d), vr.ld, dims.sk, dims.dv);
    const bool by_row = !v_finite[h / dims.group];
    double* logit_max = want_max ? &item_max[static_cast<size_t>(item)] : nullptr;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t row0 = b * kBlockRows;
      const int n = static_cast<int>(std::min<int64_t>(kBlockRows, dims.sq - row0));
      if (!by_row) {
        forward_block(a, dims, keys, kt, vr, h, row0, n, w, logit_max);
      } else {
        for (int r = 0; r < n; ++r)
          forward_block(a, dims, keys, kt, vr, h, row0 + r, 1, w, logit_max);
      }
    }
  });
  if (!want_max) return;
  std::vector<double> head_max(static_cast<size_t>(dims.hq),
                               -std::numeric_limits<double>::infinity());
  for (int64_t h = 0; h < dims.hq; ++h) {
    for (int64_t i = 0; i < items_per_head; ++i) {
      head_max[h] = nan_max(head_max[h], item_max[h * items_per_head + i]);
    }
  }
  merge_max_logits(max_logits, head_max.data());
}

}  // namespace

void ffa_forward(const TensorView& q, const TensorView& k, const TensorView& v, const RowKeys& keys,
                 const ScoreParams& scores, const TensorView& out, const TensorView& lse,
                 bool accumulate, const TensorView& max_logits) {
  const AttnDims dims = AttnDims::from(q, k, v, scores);
  const ForwardArgs a{q, out, lse, accumulate};
  if (q.dtype == DType::kFloat64) {
    forward_impl<double>(a, k, v, dims, keys, max_logits);
  } else {
    forward_impl<float>(a, k, v, dims, keys, max_logits);
  }
}

}  // namespace magi::cpu
